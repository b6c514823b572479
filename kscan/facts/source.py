"""One parsed file as the extractors read it: node text and spans, compiled queries,
and the tree (main or re-parsed chunk) that holds a byte.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

import tree_sitter as ts

from kscan.facts.records import Span
from kscan.parse.parser import LANGUAGE, ParsedFile

IDENT = re.compile(r"[A-Za-z_]\w*")


@cache
def query(source: str) -> ts.Query:
    """Compiled on first use: only workers parse, and a warm run parses nothing."""
    return ts.Query(LANGUAGE, source)


class Text:
    """Byte-offset helpers over one file's source."""

    def __init__(self, src: bytes):
        self.src = src

    def of(self, node: ts.Node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def flat(self, node: ts.Node) -> str:
        return " ".join(self.of(node).split())

    @staticmethod
    def span(node: ts.Node) -> Span:
        row, col = node.start_point
        return Span(row + 1, col + 1, node.end_point[0] + 1, node.start_byte, node.end_byte)


def names_re(names: tuple[str, ...]) -> re.Pattern[str]:
    """Any of `names` as a whole word."""
    return re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b")


def declared_name(declarator: str) -> str:
    """`*page`, `pfns[]`, `*p = NULL` -> the declared identifier."""
    names = IDENT.findall(declarator.split("=", 1)[0])
    return names[-1] if names else ""


def root_for(parsed: ParsedFile, byte: int) -> ts.Node:
    if parsed.in_lost_region(byte):
        for tree in parsed.chunks:
            ranges = tree.included_ranges
            if ranges and ranges[0].start_byte <= byte < ranges[0].end_byte:
                return tree.root_node
    return parsed.tree.root_node


def innermost(intervals: Sequence[tuple[int, int]], offsets: Sequence[int]) -> list[int]:
    """For each offset, the index of the innermost [start, end) interval holding it, -1
    for none.  Intervals nest or lie apart (of two that overlap, the later one counts as
    inside); both may come in any order.  One sweep over both sorted, with a stack of
    the open intervals: n offsets in n nested intervals cost n log n, not n x n."""
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i][0], -intervals[i][1]))
    out = [-1] * len(offsets)
    stack: list[int] = []
    following = 0
    for point in sorted(range(len(offsets)), key=offsets.__getitem__):
        offset = offsets[point]
        while following < len(order) and intervals[order[following]][0] <= offset:
            _close_before(intervals, stack, intervals[order[following]][0])
            stack.append(order[following])
            following += 1
        _close_before(intervals, stack, offset)
        if stack:
            out[point] = stack[-1]
    return out


def nesting(intervals: Sequence[tuple[int, int]]) -> list[int]:
    """For each interval, the index of the innermost other one holding it, -1 for none."""
    parents = [-1] * len(intervals)
    stack: list[int] = []
    for i in sorted(range(len(intervals)), key=lambda i: (intervals[i][0], -intervals[i][1])):
        _close_before(intervals, stack, intervals[i][0])
        if stack:
            parents[i] = stack[-1]
        stack.append(i)
    return parents


def _close_before(intervals: Sequence[tuple[int, int]], stack: list[int], offset: int) -> None:
    """Drop the open intervals that end at or before offset."""
    while stack and intervals[stack[-1]][1] <= offset:
        stack.pop()
