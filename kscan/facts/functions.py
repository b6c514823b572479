"""Functions: each real definition's name, span, body, linkage, parameters and calls,
and how a function given a PFN reports an invalid one.

Macro-shaped fakes (`for_each_x(a) { ... }` parsed as a definition) are set apart
for the loop extractor.
"""

from __future__ import annotations

import bisect
import re
from typing import Any, NamedTuple

import tree_sitter as ts

from kscan.facts.intervals import Holders, innermost
from kscan.facts.records import Call, Function
from kscan.facts.source import Text


def _function_declarator(node: ts.Node) -> tuple[ts.Node, ts.Node] | None:
    """The function_declarator of a real definition and its name; None for macro-shaped
    fakes."""
    decl = node.child_by_field_name("declarator")
    while decl is not None and decl.type in ("pointer_declarator", "attributed_declarator"):
        decl = decl.child_by_field_name("declarator")
    if decl is None or decl.type != "function_declarator":
        return None
    name = decl.child_by_field_name("declarator")
    return (decl, name) if name is not None and name.type == "identifier" else None


class _Head(NamedTuple):
    """A function definition up to its parameters."""

    node: ts.Node
    decl: ts.Node  # its function_declarator
    name: ts.Node
    static: bool
    inline: bool


def function_heads(text: Text, nodes: list[ts.Node]) -> tuple[list[_Head], list[ts.Node]]:
    """The real definitions' heads, in file order, and the macro-shaped fakes."""
    heads, fake = [], []
    for node in nodes:
        declared = _function_declarator(node)
        if declared is None:
            fake.append(node)
            continue
        decl, name = declared
        head = text.src[node.start_byte : name.start_byte]
        static, inline = _STATIC.search(head) is not None, _INLINE.search(head) is not None
        heads.append(_Head(node, decl, name, static, inline))
    heads.sort(key=lambda h: h.node.start_byte)
    return heads, fake


def function_facts(text: Text, heads: list[_Head], calls: list[Call]) -> list[Function]:
    nodes = [head.node for head in heads]
    return [
        _function(text, head, tuple(own))
        for head, own in zip(heads, _calls_by_function(nodes, calls), strict=True)
    ]


def _calls_by_function(nodes: list[ts.Node], calls: list[Call]) -> list[list[Call]]:
    """Each function's own calls: a slice of the sorted calls, unless a runaway recovery
    nested functions (hundreds of real functions in one body), when each call goes to
    the innermost one."""
    starts = [c.byte for c in calls]
    if all(a.end_byte <= b.start_byte for a, b in zip(nodes, nodes[1:], strict=False)):
        lo = [bisect.bisect_left(starts, n.start_byte) for n in nodes]
        hi = [bisect.bisect_left(starts, n.end_byte) for n in nodes]
        return [calls[a:b] for a, b in zip(lo, hi, strict=True)]
    own: list[list[Call]] = [[] for _ in nodes]
    spans = [(n.start_byte, n.end_byte) for n in nodes]
    for call, i in zip(calls, innermost(spans, starts), strict=True):
        if i >= 0:
            own[i].append(call)
    return own


_STATIC = re.compile(rb"\bstatic\b")
_INLINE = re.compile(rb"\b(?:inline|__inline|__inline__|__always_inline)\b")


def _function(text: Text, head: _Head, calls: tuple[Call, ...]) -> Function:
    node = head.node
    body = node.child_by_field_name("body") or node
    plist = head.decl.child_by_field_name("parameters")
    return Function(
        name=text.of(head.name),
        span=text.span(node),
        body=text.span(body),
        static=head.static,
        inline=head.inline,
        params_text=text.of(plist) if plist is not None else "()",
        calls=calls,
        **(
            _pfn_function_returns(text.src, body)
            if plist is not None and b"pfn" in text.src[plist.start_byte : plist.end_byte]
            else {}
        ),
    )


_RETURN_FAILURE = re.compile(rb"\breturn\s+(?:NULL|false)\s*;")
_RETURN_CALL = re.compile(rb"\breturn\s+!?\s*\(?\s*([A-Za-z_]\w*)\s*\(")


def _pfn_function_returns(src: bytes, body: ts.Node) -> dict[str, Any]:
    """How a function given a PFN reports an invalid one (validity helpers, see Project)."""
    start, end = body.start_byte, body.end_byte
    return {
        "returns_failure": _RETURN_FAILURE.search(src, start, end) is not None,
        "returns_calls": tuple(m.group(1).decode() for m in _RETURN_CALL.finditer(src, start, end)),
    }


class FunctionFinder:
    """Innermost real function containing a byte (runaway recoveries nest them)."""

    def __init__(self, functions: list[Function]):
        self.functions = functions
        self._holders = Holders([(f.span.start_byte, f.span.end_byte) for f in functions])

    def index_at(self, byte: int) -> int | None:
        return next(self._holders.holding(byte), None)

    def name_at(self, byte: int) -> str | None:
        i = self.index_at(byte)
        return self.functions[i].name if i is not None else None
