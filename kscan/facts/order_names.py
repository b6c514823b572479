"""MAX_ORDER-family names in code (MAX_ORDER, MAX_PAGE_ORDER, NR_PAGE_ORDERS and their
relatives), each with the expression around it: found in the bytes, read in the tree.
A Watch (kscan what-if) adds names of its own.
"""

from __future__ import annotations

import re

import tree_sitter as ts

from kscan.facts.descent import Descent
from kscan.facts.functions import FunctionFinder
from kscan.facts.records import NameUse
from kscan.facts.source import Text
from kscan.parse.parser import ParsedFile
from kscan.vocab import ORDER_FAMILY

# (name, offset of "ORDER" in it), longest first: found from each "ORDER" in the bytes
_ORDER_AT = sorted(((n.encode(), n.index("ORDER")) for n in ORDER_FAMILY), key=lambda t: -len(t[0]))
_STATEMENT_END = ("_statement", "declaration", "init_declarator", "field_declaration")


def name_uses(
    parsed: ParsedFile, text: Text, finder: FunctionFinder, named: re.Pattern[str] | None = None
) -> list[NameUse]:
    """The uses of MAX_ORDER-family names, or of any name `named` matches: found by byte
    search (few per file) and reached in the tree with their ancestors, in one walk
    per tree."""
    spans = _order_names(parsed.src) if named is None else _named(parsed.src, named)
    by_root: dict[ts.Node, list[tuple[int, int]]] = {}
    for start, end in spans:
        by_root.setdefault(parsed.root_for(start), []).append((start, end))
    uses = []
    for root, in_root in by_root.items():
        descent = Descent(root)
        for start, end in in_root:
            node = descent.reach(start, end)
            if node is not None and node.type == "identifier":
                uses.append(_name_use(text, node, descent, finder))
    return sorted(uses, key=lambda use: use.byte)


def _named(src: bytes, named: re.Pattern[str]) -> list[tuple[int, int]]:
    """(start, end) of each name `named` matches (a Watch's names: few per file)."""
    return [match.span() for match in re.compile(named.pattern.encode()).finditer(src)]


def _order_names(src: bytes) -> list[tuple[int, int]]:
    """(start, end) of each whole MAX_ORDER-family identifier."""
    spans = []
    hit = src.find(b"ORDER")
    while hit >= 0:
        for name, offset in _ORDER_AT:
            start, end = hit - offset, hit - offset + len(name)
            if start >= 0 and src.startswith(name, start) and _whole_word(src, start, end):
                spans.append((start, end))
                break
        hit = src.find(b"ORDER", hit + 5)
    return spans


def _whole_word(src: bytes, start: int, end: int) -> bool:
    before = src[start - 1 : start]
    after = src[end : end + 1]
    return not (before.isalnum() or before == b"_" or after.isalnum() or after == b"_")


def _name_use(text: Text, node: ts.Node, descent: Descent, finder: FunctionFinder) -> NameUse:
    parent = descent.ancestor(1) or node
    context = _context(node, descent)
    row, col = node.start_point
    return NameUse(
        name=text.of(node),
        line=row + 1,
        col=col + 1,
        byte=node.start_byte,
        function=finder.name_at(node.start_byte),
        context=text.flat(context)[:300],
        parent=text.flat(parent)[:300],
        parent_kind=parent.type,
    )


def _context(node: ts.Node, descent: Descent) -> ts.Node:
    """The smallest statement, condition or initialiser around a node."""
    current = node
    for up in range(1, 17):
        parent = descent.ancestor(up)
        if parent is None:
            break
        if parent.type in ("for_statement", "if_statement", "while_statement", "do_statement"):
            return current
        if parent.type.endswith(_STATEMENT_END) or parent.type.startswith("preproc"):
            return parent
        current = parent
    return current
