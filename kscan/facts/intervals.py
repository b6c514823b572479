"""Intervals of bytes that nest: which holds which, for many at once.

Facts are ordered and nested by byte offsets (a call in a loop body, a loop in a
loop).  Asked one offset at a time over n intervals, "the innermost interval holding
this offset" costs n per question and n x n for a file; asked for all at once, it is
one sweep over both sorted.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence


def innermost(intervals: Sequence[tuple[int, int]], offsets: Sequence[int]) -> list[int]:
    """For each offset, the index of the innermost [start, end) interval holding it, -1
    for none.  Intervals nest or lie apart (of two that overlap, the later one counts as
    inside); both may come in any order.  One sweep over both sorted, with a stack of
    the open intervals: n offsets in n nested intervals cost n log n, not n x n."""
    order, starts, ends = _sorted(intervals)
    out = [-1] * len(offsets)
    stack: list[int] = []  # positions in order of the open intervals, innermost last
    following = 0
    for point in sorted(range(len(offsets)), key=offsets.__getitem__):
        offset = offsets[point]
        while following < len(order) and starts[following] <= offset:
            while stack and ends[stack[-1]] <= starts[following]:
                stack.pop()
            stack.append(following)
            following += 1
        while stack and ends[stack[-1]] <= offset:
            stack.pop()
        if stack:
            out[point] = order[stack[-1]]
    return out


def nesting(intervals: Sequence[tuple[int, int]]) -> list[int]:
    """For each interval, the index of the innermost other one holding it, -1 for none."""
    order, starts, ends = _sorted(intervals)
    parents = [-1] * len(intervals)
    for position, parent in enumerate(_parents(starts, ends)):
        if parent >= 0:
            parents[order[position]] = order[parent]
    return parents


class Holders:
    """The intervals holding an offset, asked one offset at a time (the function at a
    byte, the loops around a use): from the last interval to start at or before it, up
    its nesting, so a question costs log n plus the depth, not n.  Every interval that
    holds the offset is on that way up, whether intervals nest or only overlap."""

    def __init__(self, intervals: Sequence[tuple[int, int]]) -> None:
        self._order, self._starts, self._ends = _sorted(intervals)
        self._parents = _parents(self._starts, self._ends)

    def holding(self, offset: int) -> Iterator[int]:
        """The indexes of the intervals holding offset, innermost first."""
        position = bisect_right(self._starts, offset) - 1
        while position >= 0:
            if offset < self._ends[position]:
                yield self._order[position]
            position = self._parents[position]


def _parents(starts: list[int], ends: list[int]) -> list[int]:
    """For each interval (sorted by start), the position of the innermost one still
    open where it starts, -1 for none: a stack of the open ones."""
    parents = [-1] * len(starts)
    stack: list[int] = []
    for position, start in enumerate(starts):
        while stack and ends[stack[-1]] <= start:
            stack.pop()
        if stack:
            parents[position] = stack[-1]
        stack.append(position)
    return parents


def _sorted(intervals: Sequence[tuple[int, int]]) -> tuple[list[int], list[int], list[int]]:
    """The intervals' indexes by start, the outer first of two that start together, and
    their starts and ends in that order."""
    keys = [(start, -end) for start, end in intervals]
    order = sorted(range(len(intervals)), key=keys.__getitem__)
    return order, [intervals[i][0] for i in order], [intervals[i][1] for i in order]
