"""MAX_ORDER-family names in code (MAX_ORDER, MAX_PAGE_ORDER, NR_PAGE_ORDERS and their
relatives), each with the expression around it: found in the bytes, read in the tree.
A Watch (kscan what-if) adds names of its own.
"""

from __future__ import annotations

import re

import tree_sitter as ts

from kscan.facts.functions import FunctionFinder
from kscan.facts.records import NameUse
from kscan.facts.source import Text, root_for
from kscan.parse.parser import ParsedFile
from kscan.vocab import ORDER_FAMILY

# (name, offset of "ORDER" in it), longest first: found from each "ORDER" in the bytes
_ORDER_AT = sorted(((n.encode(), n.index("ORDER")) for n in ORDER_FAMILY), key=lambda t: -len(t[0]))
_STATEMENT_END = ("_statement", "declaration", "init_declarator", "field_declaration")


def name_uses(
    parsed: ParsedFile, text: Text, finder: FunctionFinder, named: re.Pattern[str] | None = None
) -> list[NameUse]:
    """The uses of MAX_ORDER-family names, or of any name `named` matches."""
    nodes = _order_name_nodes(parsed) if named is None else _named_nodes(parsed, named)
    return [_name_use(text, n, finder) for n in nodes]


def _order_name_nodes(parsed: ParsedFile) -> list[ts.Node]:
    """MAX_ORDER-family identifiers in code, found by byte search (few per file)."""
    nodes = []
    for start, end in _order_names(parsed.src):
        root = root_for(parsed, start)
        node = root.named_descendant_for_byte_range(start, end)
        if node is not None and node.type == "identifier" and node.start_byte == start:
            nodes.append(node)
    return nodes


def _named_nodes(parsed: ParsedFile, named: re.Pattern[str]) -> list[ts.Node]:
    """Identifiers matching `named` in code (a Watch's names: few per file)."""
    nodes = []
    for match in re.compile(named.pattern.encode()).finditer(parsed.src):
        start, end = match.span()
        node = root_for(parsed, start).named_descendant_for_byte_range(start, end)
        if node is not None and node.type == "identifier" and node.start_byte == start:
            nodes.append(node)
    return nodes


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


def _name_use(text: Text, node: ts.Node, finder: FunctionFinder) -> NameUse:
    parent = node.parent or node
    context = _context(node)
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


def _context(node: ts.Node) -> ts.Node:
    """The smallest statement, condition or initialiser around a node."""
    current = node
    for _ in range(16):
        parent = current.parent
        if parent is None:
            break
        if parent.type in ("for_statement", "if_statement", "while_statement", "do_statement"):
            return current
        if parent.type.endswith(_STATEMENT_END) or parent.type.startswith("preproc"):
            return parent
        current = parent
    return current
