"""Turn a parsed file into FileFacts: each kind of fact has a module of its own here
(functions, calls, loops, local_vars, preprocessor, order_names, page_offsets); this
one runs them.

Cost model: a Python-side walk over every node of mm/ costs more than parsing it, so
everything here is driven by tree-sitter queries (run in C) and byte-range arithmetic.
One query over the whole file finds functions, calls and loops; a second, richer query
runs only over loops that can matter (their text mentions pfn, page or folio) to
collect guards, exits, steps and pointer arithmetic.  #defines and #if branches come
from byte regexes, and the calls of kernel-style bodies from the bytes too (the same
whether the parser saw the body or skipped it).  Nothing asks a node for its parent or
siblings node by node: tree-sitter answers those by a search from the root, which
costs n x n over n functions or n levels of nesting (kscan/facts/descent.py).

An analysis other than the rules can ask for more (`Watch`, kscan what-if): the uses
and #defines of more names, #error directives, and struct page arithmetic anywhere in
a function.  A scan never pays for them.
"""

from __future__ import annotations

from typing import NamedTuple

import tree_sitter as ts

from kscan.facts.calls import file_calls
from kscan.facts.functions import FunctionFinder, function_facts, function_heads
from kscan.facts.local_vars import add_local_facts
from kscan.facts.loops import loop_facts, macro_sites, plain_site
from kscan.facts.order_names import name_uses
from kscan.facts.page_offsets import page_offsets
from kscan.facts.preprocessor import branches, defines, directives
from kscan.facts.records import FileFacts
from kscan.facts.source import Text, names_re, query
from kscan.parse.parser import ParsedFile
from kscan.vocab import ORDER_FAMILY

# Every pattern costs a walk over the whole tree in C (~0.2 s for mm/), so this query
# holds only what needs the tree; #defines come from a byte regex, ERRORs from has_error.
_FILE_QUERY = """
    (function_definition) @function
    (call_expression function: (identifier) arguments: (argument_list)) @call
    [(for_statement) (while_statement) (do_statement)] @loop
    """


class Watch(NamedTuple):
    """What an analysis beyond the rules asks of the extractor (kscan what-if): the uses
    and object-like #defines of `names` (besides the MAX_ORDER family), the #error
    directives, struct page arithmetic in every function (FileFacts.offsets) and every
    function's locals (Function.pointer_types, values)."""

    names: tuple[str, ...]


def extract(path: str, parsed: ParsedFile, watch: Watch | None = None) -> FileFacts:
    facts = FileFacts(path=path, lines=parsed.src.count(b"\n") + 1)
    facts.bodies_seen = parsed.src.count(b"\n{") + parsed.src.startswith(b"{")
    facts.recovered_regions = len(parsed.lost)
    text = Text(parsed.src)
    captures = _capture_all(parsed)
    facts.has_errors = any(root.has_error for root in parsed.roots())

    heads, fake_fn_nodes = function_heads(text, captures.get("function", []))
    statics = {text.of(head.name) for head in heads if head.static}
    calls = file_calls(text, captures.get("call", []), parsed, statics)
    facts.functions = function_facts(text, heads, calls)
    finder = FunctionFinder(facts.functions)

    sites = [plain_site(text, n) for n in captures.get("loop", ())]
    sites += macro_sites(parsed, text, captures.get("call", []), fake_fn_nodes)
    sites.sort(key=lambda site: site.loop.span.start_byte)
    facts.loops, facts.guards, facts.guard_names = loop_facts(parsed, text, sites, calls, finder)
    add_local_facts(text, facts, [head.node for head in heads], every=watch is not None)

    facts.branches = branches(parsed.src)
    if watch is None:
        facts.defines = defines(parsed.src)
        facts.name_uses = name_uses(parsed, text, finder)
        return facts
    named = names_re((*ORDER_FAMILY, *watch.names))
    facts.defines = defines(parsed.src, named)
    facts.name_uses = name_uses(parsed, text, finder, named)
    facts.errors, facts.conditions = directives(parsed.src)
    facts.offsets = page_offsets(parsed, text, facts.functions, finder)
    return facts


def _capture_all(parsed: ParsedFile) -> dict[str, list[ts.Node]]:
    merged: dict[str, list[ts.Node]] = {}
    for i, root in enumerate(parsed.roots()):
        for name, nodes in ts.QueryCursor(query(_FILE_QUERY)).captures(root).items():
            if i == 0 and parsed.lost:
                nodes = [n for n in nodes if not parsed.in_lost_region(n.start_byte)]
            merged.setdefault(name, []).extend(nodes)
    return merged
