"""Where a hunk sits in a file: at its stated line, at an offset, only nearly (the
context differs), or nowhere, and then where the file comes closest.

git applies the patches; this module says where each hunk went, so that a finding
points at the line where the code really landed, and a hunk that does not apply is
named with the tree's nearest match and its first difference, as a reviewer would
look for it by hand.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kscan.results import Hunk, HunkLine

_HEADER = re.compile(r"@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@(.*)")
# Matches that agree on fewer lines than this fraction of a hunk are no match at all.
_NEAREST_AT_LEAST = 0.5


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a block of lines (a hunk's pre- or post-image) best matches a file."""

    line: int  # 1-based first line of the match, or the stated line when nothing matches
    equal: int  # lines of the block equal there
    size: int  # lines in the block
    stated: int  # the line the patch names

    @property
    def exact(self) -> bool:
        return self.equal == self.size

    @property
    def offset(self) -> int:
        return self.line - self.stated

    @property
    def found(self) -> bool:
        return self.size == 0 or self.equal >= max(1, self.size * _NEAREST_AT_LEAST)


class Lines:
    """A file's lines as a patch sees them, and where each text stands in them: worked
    out once for all the hunks placed in the file, not once per hunk (a patch of 5,000
    hunks to a 40,000-line file would read it 15,000 times)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self._where: dict[str, list[int]] | None = None

    def where(self) -> dict[str, list[int]]:
        """text -> the indexes of the lines that read so."""
        if self._where is None:
            self._where = {}
            for index, text in enumerate(self.lines):
                self._where.setdefault(text, []).append(index)
        return self._where


def pre_image(hunk: Hunk) -> list[str]:
    return [text[1:] for text, _, _ in hunk.lines if text[:1] in " -"]


def post_image(hunk: Hunk) -> list[str]:
    return [text[1:] for text, _, _ in hunk.lines if text[:1] in " +"]


def stated_start(hunk: Hunk, new_side: bool) -> int:
    """The first line of the hunk's old (or new) side, as its header states it."""
    match = _HEADER.match(hunk.header)
    return max(int(match[3 if new_side else 1]), 1) if match else 1


def place(file: Lines, block: Sequence[str], stated: int) -> Placement:
    """The best match of `block` in `lines`: most lines equal, then nearest `stated`.

    Each line of the block votes for the starts its equal lines in the file imply.  A
    large hunk of lines the file repeats (`}`, blank lines, a generated table) would
    cast block x file votes; past _VOTES only the block's rarer lines vote, and the
    starts they favour most are counted out line by line."""
    size, lines = len(block), file.lines
    if not size:
        return Placement(stated, 0, 0, stated)
    if lines[stated - 1 : stated - 1 + size] == list(block):  # where it says: most hunks
        return Placement(stated, size, size, stated)
    where = file.where()
    seen = {text: where[text] for text in set(block) if text in where}
    voters = _rarest(block, seen)
    last = len(lines) - size
    votes: Counter[int] = Counter()
    for i, text in enumerate(block):
        if voters is None or text in voters:
            for index in seen.get(text, ()):
                if 0 <= index - i <= last:
                    votes[index - i] += 1
    if voters is not None:  # votes from some lines only: count the likeliest starts whole
        starts = {start for start, _ in votes.most_common(_RECOUNTED)}
        starts |= {stated - 1} if 0 <= stated - 1 <= last else set()
        votes = Counter({start: _equal(lines, block, start) for start in starts})
    votes = +votes  # starts where no line agrees are no match
    if not votes:
        return Placement(stated, 0, size, stated)
    start = max(votes, key=lambda s: (votes[s], -abs(s + 1 - stated)))
    return Placement(start + 1, votes[start], size, stated)


_VOTES = 1_000_000  # votes cast before only the rarer lines of a block vote
_RECOUNTED = 8  # starts counted line by line after such a vote


def _rarest(block: Sequence[str], seen: dict[str, list[int]]) -> set[str] | None:
    """The block's lines that vote: all (None) when their votes stay under _VOTES, else
    the rarest in the file, as many as stay under it."""
    copies = Counter(block)
    cost = {text: copies[text] * len(found) for text, found in seen.items()}
    if sum(cost.values()) <= _VOTES:
        return None
    voters: set[str] = set()
    total = 0
    for text in sorted(cost, key=lambda t: (cost[t], t)):
        total += cost[text]
        if total > _VOTES:
            break
        voters.add(text)
    return voters


def _equal(lines: Sequence[str], block: Sequence[str], start: int) -> int:
    return sum(a == b for a, b in zip(lines[start : start + len(block)], block, strict=False))


def first_difference(lines: Sequence[str], block: Sequence[str], at: Placement) -> int | None:
    """The index in `block` of its first line that differs from the file at `at`."""
    for i, text in enumerate(block):
        index = at.line - 1 + i
        if index >= len(lines) or lines[index] != text:
            return i
    return None


def landed(hunk: Hunk, before: Lines, after: Lines) -> Hunk:
    """`hunk` renumbered to where it sits in the file before and after it applied, its
    context as the patched file has it (with fuzz it differs from the patch's)."""
    old = old_start = place(before, pre_image(hunk), stated_start(hunk, new_side=False)).line
    new = new_start = place(after, post_image(hunk), stated_start(hunk, new_side=True)).line
    lines: list[HunkLine] = []
    for text, _, _ in hunk.lines:
        sign = text[:1]
        if sign == "-":
            lines.append((text, old, None))
            old += 1
            continue
        if sign == " " and 0 < new <= len(after.lines):
            text = " " + after.lines[new - 1]
        lines.append((text, old if sign == " " else None, new))
        old += sign == " "
        new += 1
    header = _renumbered(hunk.header, old_start, new_start)
    return replace(hunk, header=header, lines=tuple(lines))


def _renumbered(header: str, old: int, new: int) -> str:
    """The header with the start lines the hunk really has."""
    match = _HEADER.match(header)
    if match is None:
        return header
    old_length, new_length, section = match[2] or "", match[4] or "", match[5]
    return f"@@ -{old}{old_length} +{new}{new_length} @@{section}"
