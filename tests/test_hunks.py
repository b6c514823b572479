"""Where a hunk sits in a file (kscan/review/hunks.py): the best match, most lines
equal then nearest the stated line, found in work linear in the hunk and the file."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from snippets import many_walks

from kscan.facts.budget import counting_steps
from kscan.review.hunks import Lines, Placement, place


def best_match(lines: list[str], block: list[str], stated: int) -> Placement:
    """The definition, start by start: most lines equal, then nearest `stated`; a block
    no line of which agrees anywhere stays at `stated`."""
    best = None
    for start in range(len(lines) - len(block) + 1):
        equal = sum(a == b for a, b in zip(lines[start:], block, strict=False))
        key = (equal, -abs(start + 1 - stated))
        if equal and (best is None or key > best[0]):
            best = (key, start)
    if not block or best is None:
        return Placement(stated, 0, len(block), stated)
    return Placement(best[1] + 1, best[0][0], len(block), stated)


# few distinct lines, so that blocks match in several places and nearly
TEXT = st.lists(st.sampled_from(["}", "", "\tpfn++;", "{", "\treturn 0;", "x"]), max_size=40)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(lines=TEXT, block=TEXT, stated=st.integers(1, 45))
def test_the_match_is_the_best_one_nearest_the_stated_line(lines, block, stated):
    assert place(Lines(lines), block, stated) == best_match(lines, block, stated)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(lines=TEXT, start=st.integers(0, 40), length=st.integers(1, 10), stated=st.integers(1, 45))
def test_a_block_from_the_file_is_found_whole(lines, start, length, stated):
    block = lines[start : start + length]
    if block:
        found = place(Lines(lines), block, stated)
        assert found.exact and lines[found.line - 1 : found.line - 1 + len(block)] == block


def test_a_large_hunk_of_repeated_lines_is_placed_in_linear_work():
    """A 24,000-line hunk of a generated file that repeats `}`, blank lines and the same
    loop 3,000 times, applied 40 lines from where it says: block x file votes would be
    81 million; the rarer lines' votes find it, in a few steps a line."""
    lines = many_walks(3000).split("\n")
    moved = Lines(["/* header */"] * 40 + lines)
    with counting_steps() as count:
        found = place(moved, lines, 1)
    assert (found.line, found.equal, found.exact) == (41, len(lines), True)
    assert count.steps < 20 * (len(lines) + len(moved.lines))
    damaged = [*lines[:100], "changed", *lines[101:]]
    found = place(moved, damaged, 1)
    assert (found.line, found.equal, found.size) == (41, len(lines) - 1, len(lines))


def test_many_hunks_in_one_file_read_its_lines_once():
    """A patch of 2,000 hunks to a 16,000-line file, each hunk a line off where it
    says: where each text stands is worked out once for the file, not once a hunk."""
    lines = [f"int v{i} = {i};" for i in range(16_000)]
    file = Lines(["/* moved */", *lines])
    blocks = [(lines[i : i + 7], i + 1) for i in range(0, 16_000, 8)]
    with counting_steps() as count:
        found = [place(file, block, stated) for block, stated in blocks]
    assert all(f.exact and f.offset == 1 for f in found)
    assert count.steps < 40 * (len(lines) + sum(len(block) for block, _ in blocks))
