"""Arithmetic on `struct page *` variables anywhere in a function (`page + n`,
`&page[n]`, `page++`): asked for by a Watch only (kscan what-if reads it to find struct
page walks that step across a block without nth_page()).
"""

from __future__ import annotations

import tree_sitter as ts

from kscan.facts.functions import FunctionFinder
from kscan.facts.records import Function, Offset
from kscan.facts.source import Text, query
from kscan.parse.parser import ParsedFile

_OFFSET_QUERY = """
    (binary_expression left: (identifier) @base operator: ["+" "-"] @op right: (_) @offset)
    (subscript_expression argument: (identifier) @base index: (_) @offset)
    (assignment_expression left: (identifier) @base operator: ["+=" "-="] @op right: (_) @offset)
    (update_expression argument: (identifier) @base operator: _ @op)
    """


def page_offsets(
    parsed: ParsedFile, text: Text, functions: list[Function], finder: FunctionFinder
) -> tuple[Offset, ...]:
    """Arithmetic on each function's `struct page *` variables (Function.pointer_types)."""
    pages = [{v for v, kind in fn.pointer_types if kind == "page*"} for fn in functions]
    if not any(pages):
        return ()
    out = []
    for root in parsed.roots():
        for _, caps in ts.QueryCursor(query(_OFFSET_QUERY)).matches(root):
            base = caps["base"][0]
            i = finder.index_at(base.start_byte)
            if i is None or text.of(base) not in pages[i]:
                continue
            op = text.of(caps["op"][0]) if "op" in caps else "[]"
            offset = text.flat(caps["offset"][0]) if "offset" in caps else "1"
            row, col = base.start_point
            out.append(
                Offset(
                    text.of(base), op, offset, functions[i].name, row + 1, col + 1, base.start_byte
                )
            )
    return tuple(sorted(set(out), key=lambda o: o.byte))
