"""Half-open PFN ranges and the few set operations the model needs.

Every list handled here is sorted and disjoint ("normalised"); `merged` makes one.
Lookups bisect, so a query costs O(log n) whatever the size of the layout.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from typing import NamedTuple


class PfnRange(NamedTuple):
    start: int
    end: int  # exclusive

    def __str__(self) -> str:
        return f"[{self.start:#x}, {self.end:#x})"

    @property
    def size(self) -> int:
        return self.end - self.start

    def overlaps(self, other: PfnRange) -> bool:
        return self.start < other.end and other.start < self.end


def align_down(value: int, granule: int) -> int:
    return value - value % granule


def align_up(value: int, granule: int) -> int:
    return align_down(value + granule - 1, granule)


def merged(ranges: Iterable[tuple[int, int]]) -> list[PfnRange]:
    """Sort, drop empty ranges, and join ranges that overlap or touch."""
    out: list[PfnRange] = []
    for start, end in sorted(r for r in ranges if r[0] < r[1]):
        if out and start <= out[-1].end:
            out[-1] = PfnRange(out[-1].start, max(out[-1].end, end))
        else:
            out.append(PfnRange(start, end))
    return out


def subtract(ranges: list[PfnRange], cuts: list[PfnRange]) -> list[PfnRange]:
    """`ranges` minus `cuts`, both normalised."""
    out: list[PfnRange] = []
    for r in ranges:
        start = r.start
        for cut in overlapping(cuts, r):
            if cut.start > start:
                out.append(PfnRange(start, cut.start))
            start = max(start, cut.end)
        if start < r.end:
            out.append(PfnRange(start, r.end))
    return out


def clipped(ranges: list[PfnRange], window: PfnRange) -> list[PfnRange]:
    """The parts of `ranges` inside `window`."""
    return [
        PfnRange(max(r.start, window.start), min(r.end, window.end))
        for r in overlapping(ranges, window)
    ]


def overlapping(ranges: list[PfnRange], window: PfnRange) -> list[PfnRange]:
    """The ranges that overlap `window`, in order."""
    # The first candidate is the last range starting at or before window.start.
    i = max(bisect_right(ranges, (window.start, float("inf"))) - 1, 0)
    out = []
    while i < len(ranges) and ranges[i].start < window.end:
        if ranges[i].end > window.start:
            out.append(ranges[i])
        i += 1
    return out


def find(ranges: list[PfnRange], pfn: int) -> PfnRange | None:
    """The range holding `pfn`, if any."""
    i = bisect_right(ranges, (pfn, float("inf"))) - 1
    if i >= 0 and ranges[i].start <= pfn < ranges[i].end:
        return ranges[i]
    return None


def touches(ranges: list[PfnRange], window: PfnRange) -> bool:
    return bool(overlapping(ranges, window))


def covers(ranges: list[PfnRange], window: PfnRange) -> bool:
    """Every pfn of `window` lies in `ranges`."""
    return sum(r.size for r in clipped(ranges, window)) == window.size


def intersection(a: list[PfnRange], b: list[PfnRange]) -> list[PfnRange]:
    return [piece for r in a for piece in clipped(b, r)]
