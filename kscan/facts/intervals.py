"""Intervals of bytes that nest: which holds which, for many at once.

Facts are ordered and nested by byte offsets (a call in a loop body, a loop in a
loop).  Asked one offset at a time over n intervals, "the innermost interval holding
this offset" costs n per question and n x n for a file; asked for all at once, it is
one sweep over both sorted.
"""

from __future__ import annotations

from collections.abc import Sequence


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
