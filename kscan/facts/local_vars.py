"""Local variables of the functions that hold a detailed loop (of every function for a
Watch): which point to which struct (`struct page *p`), and the values assigned to them.
"""

from __future__ import annotations

import tree_sitter as ts

from kscan.facts.records import FileFacts
from kscan.facts.source import Text, declared_name, query

_LOCALS_QUERY = """
    (declaration type: (struct_specifier name: (type_identifier) @struct)) @decl
    (parameter_declaration type: (struct_specifier name: (type_identifier) @struct)) @decl
    (init_declarator declarator: (_) @var value: (_) @value)
    (assignment_expression left: (identifier) @var operator: "=" right: (_) @value)
    """


def add_local_facts(text: Text, facts: FileFacts, nodes: list[ts.Node], every: bool) -> None:
    """Struct-pointer types and assigned values, for functions that hold detailed loops
    (`every`: for all functions; `nodes`: each function's node)."""
    wanted = {lp.function for lp in facts.loops if lp.detailed and lp.function}
    for i, (fn, node) in enumerate(zip(facts.functions, nodes, strict=True)):
        if not every and fn.name not in wanted:
            continue
        pointers: dict[str, str] = {}
        values: list[tuple[str, str]] = []
        for _, caps in ts.QueryCursor(query(_LOCALS_QUERY)).matches(node):
            if "struct" in caps:
                _record_pointers(text, caps, pointers)
            else:
                var = declared_name(text.of(caps["var"][0]))
                values.append((var, text.flat(caps["value"][0])))
        facts.functions[i] = fn._replace(
            pointer_types=tuple(pointers.items()), values=tuple(values)
        )


def _record_pointers(text: Text, caps: dict[str, list[ts.Node]], pointers: dict[str, str]) -> None:
    struct = text.of(caps["struct"][0])
    for declarator in caps["decl"][0].children_by_field_name("declarator"):
        decl_text = text.of(declarator).split("=", 1)[0]
        stars = decl_text.count("*") + decl_text.count("[")  # `*pages[]`: pointers, not pages
        if stars:
            pointers.setdefault(declared_name(decl_text), struct + "*" * stars)
