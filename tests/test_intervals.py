"""Intervals that nest (kscan/facts/intervals.py) and the queries FileFacts answers with
them (kscan/facts/records.py): each held to its definition, a look at every interval."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kscan.facts.intervals import Holders, innermost, nesting
from kscan.facts.workers import facts_from_bytes
from kscan.whatif.run import WATCH

SPANS = st.lists(st.tuples(st.integers(0, 60), st.integers(1, 30)), max_size=25).map(
    lambda pairs: [(start, start + length) for start, length in pairs]
)
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True)


def holding(intervals: list[tuple[int, int]], offset: int) -> list[int]:
    return [i for i, (start, end) in enumerate(intervals) if start <= offset < end]


@SETTINGS
@given(SPANS, st.integers(-1, 95))
def test_holders_are_every_interval_holding_the_offset_innermost_first(intervals, offset):
    """Nested, apart or overlapping: none is missed, and the first is innermost()'s."""
    found = list(Holders(intervals).holding(offset))
    assert sorted(found) == holding(intervals, offset)
    assert (found or [-1])[0] == innermost(intervals, [offset])[0]


@SETTINGS
@given(SPANS)
def test_nesting_names_the_innermost_interval_open_where_each_starts(intervals):
    """Open: started before it (or at its start and longer, or the same and listed
    first) and not ended; of those, the one that started last."""
    parents = nesting(intervals)
    for i, (start, end) in enumerate(intervals):
        before = [
            j
            for j in holding(intervals, start)
            if (intervals[j][0], -intervals[j][1], j) < (start, -end, i)
        ]
        last = max(before, key=lambda j: (intervals[j][0], -intervals[j][1], j), default=-1)
        assert parents[i] == last


SOURCE = b"""
static void outer(struct zone *zone, unsigned long pfn, unsigned int order)
{
	unsigned long nr[NR_PAGE_ORDERS];
	int i, o;

	for (o = 0; o < NR_PAGE_ORDERS; o++)
		nr[o] = 0;
	while (pfn < MAX_ORDER_NR_PAGES) {
		for (i = 0; i < (1 << order); i++) {
			if (order > MAX_PAGE_ORDER)
				return;
			pfn++;
		}
	}
}

static int other(int order)
{
	return order < MAX_PAGE_ORDER;
}
"""


def test_file_facts_queries_agree_with_a_look_at_every_fact():
    facts = facts_from_bytes(SOURCE, "mm/q.c", watch=WATCH)
    assert len(facts.loops) == 3 and len(facts.name_uses) >= 5
    for fn in facts.functions:
        assert facts.loops_in(fn.span) == [
            lp for lp in facts.loops if fn.span.contains(lp.span.start_byte)
        ]
        assert facts.uses_in(fn.span) == [u for u in facts.name_uses if fn.span.contains(u.byte)]
    for byte in range(len(SOURCE) + 1):
        for part in ("span", "body"):
            fns = [fn for fn in facts.functions if getattr(fn, part).contains(byte)]
            assert facts.function_at(byte, part) == (fns[-1] if fns else None)
        heads = [lp for lp in facts.loops if lp.span.start_byte <= byte < lp.body.start_byte]
        assert facts.loops_holding(byte, "head") == heads
        assert facts.loops_holding(byte, "body") == [
            lp for lp in facts.loops if lp.body.contains(byte)
        ]
    lines = SOURCE.count(b"\n") + 1
    for first in range(lines):
        for last in range(first, lines):
            assert facts.uses_on_lines(first, last) == [
                u for u in facts.name_uses if first <= u.line <= last
            ]
