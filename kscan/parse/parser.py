"""Parse kernel C with tree-sitter-c, repairing what kernel macros break.

Two repairs, both measured on real trees (see shared/reference/treesitter-on-kernel.md):

* Attribute and annotation macros (`__init`, `__meminit`, `__user`, `__acquires(x)`, ...)
  sit where C has no room for an identifier and cause most ERROR nodes.  They are
  blanked with spaces of the same length before parsing, so byte offsets, lines and
  columns stay exact.
* A runaway recovery (a label before `#endif`, an `#ifdef` inside call arguments) can
  swallow the rest of a file into one ERROR node.  Such a region is parsed again in
  chunks split at column-0 `}` lines, each chunk through `included_ranges` so its
  positions are still those of the file.

Function bodies no rule can use (kscan/parse/bodies.py) are left out of the parse the same
way: the parser sees `{}` and every position stays exact.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import tree_sitter as ts
import tree_sitter_c as tsc

from kscan.parse.bodies import column0_bodies, skipped_interiors
from kscan.vocab import ATTRIBUTES_WITH_ARGS, BARE_ATTRIBUTES

LANGUAGE = ts.Language(tsc.language())


def _alternation(names: list[str]) -> bytes:
    names = sorted(names, key=len, reverse=True)
    return b"|".join(re.escape(n.removeprefix("__").encode()) for n in names)


# Attributes starting with a literal `__`, which lets `re` skip ahead at C speed; the
# four plain ones (noinline, notrace, ...) are searched apart, and only in files that
# name one: one pattern holding both kinds is thirty times slower, and costs 2.3% CPU
# of `kscan mm/` cold (bench/bench.py --variant, medians of 21, 61 and 61 paired runs on
# a busy machine: 2.8%, 1.6%, 2.3%).
_PLAIN_ATTRIBUTES = [n for n in BARE_ATTRIBUTES if not n.startswith("__")]
_ATTRIBUTE_RE = re.compile(
    rb"__(?:(?:"
    + _alternation(ATTRIBUTES_WITH_ARGS)
    + rb")\s*\((?:[^()\n]|\([^()\n]*\))*\)|(?:"
    + _alternation([n for n in BARE_ATTRIBUTES if n.startswith("__")])
    + rb")\b)"
)
_PLAIN_ATTRIBUTE_RE = re.compile(rb"(?:" + _alternation(_PLAIN_ATTRIBUTES) + rb")\b")
_RUNAWAY_MIN_BYTES = 2048
# Bodies left out through included ranges, at most: tree-sitter's lexer looks its
# included ranges up from the first one, so n ranges cost n x n (a generated file of
# 40,000 small functions took 5 s to parse, against 0.8 s for every body).  Past this
# many, the left-out interiors are blanked instead: spaces cost the lexer a little per
# byte (a third more on mm/, whose largest file leaves out about 300 bodies), but
# linearly.  The trees are the same either way (all 125 files of mm/ checked).
_MOST_RANGES = 512
_SPACES = bytes(b if b == 0x0A else 0x20 for b in range(256))  # newlines kept
_CLOSING_BRACE = re.compile(rb"^}[^\n]*\n", re.M)


def blank_attributes(src: bytes, skipped: Sequence[tuple[int, int]] = ()) -> bytes:
    """Replace attribute macros by spaces of the same length (newlines kept), except in
    the skipped ranges, which the parser never sees."""
    patterns = [_ATTRIBUTE_RE]
    if any(src.find(name.encode()) >= 0 for name in _PLAIN_ATTRIBUTES):
        patterns.append(_PLAIN_ATTRIBUTE_RE)
    out = None
    pos = 0
    for start, end in [*skipped, (len(src), len(src))]:
        for pattern in patterns:
            for match in pattern.finditer(src, pos, start):
                out = _blank(src, match, out)
        pos = end
    return bytes(out) if out is not None else src


def _blank(src: bytes, match: re.Match[bytes], out: bytearray | None) -> bytearray | None:
    start, end = match.span()
    if start and (src[start - 1 : start].isalnum() or src[start - 1] == 0x5F):
        return out  # inside a longer identifier
    if src[max(0, start - 7) : start] == b"define ":
        return out  # `#define __init ...`: blanking would redefine the next token
    if out is None:
        out = bytearray(src)
    out[start:end] = src[start:end].translate(_SPACES)
    return out


@dataclass(slots=True)
class ParsedFile:
    """A file's main tree plus re-parsed chunks of regions the main tree lost."""

    src: bytes
    tree: ts.Tree
    bodies: list[tuple[int, int]] = field(default_factory=list)  # kernel-style bodies: { and }
    skipped: list[tuple[int, int]] = field(default_factory=list)  # body interiors not parsed
    lost: list[tuple[int, int]] = field(default_factory=list)  # byte ranges to ignore in `tree`
    chunks: list[ts.Tree] = field(default_factory=list)  # trees covering those ranges

    def roots(self) -> list[ts.Node]:
        return [self.tree.root_node] + [t.root_node for t in self.chunks]

    def in_lost_region(self, byte: int) -> bool:
        i = bisect.bisect_right(self.lost, (byte, math.inf)) - 1  # lost is in file order
        return i >= 0 and byte < self.lost[i][1]

    def root_for(self, byte: int) -> ts.Node:
        """The root of the tree that holds byte: a re-parsed chunk's in a lost region."""
        if self.in_lost_region(byte):
            i = bisect.bisect_right(self.chunks, byte, key=_chunk_start) - 1
            if i >= 0 and byte < self.chunks[i].included_ranges[0].end_byte:
                return self.chunks[i].root_node
        return self.tree.root_node


def _chunk_start(chunk: ts.Tree) -> int:
    return chunk.included_ranges[0].start_byte


def new_parser() -> ts.Parser:
    return ts.Parser(LANGUAGE)


def parse(
    parser: ts.Parser,
    raw: bytes,
    bodies: list[tuple[int, int]] | None = None,
    keep: list[bool] | None = None,
) -> ParsedFile:
    """`keep`: for each kernel-style body (column0_bodies(raw), or `bodies` when the
    caller has them), whether to parse it; the others are left out (kscan/parse/bodies.py).
    None: parse every body."""
    bodies = column0_bodies(raw) if bodies is None else bodies
    skipped = [] if keep is None else skipped_interiors(bodies, keep)
    src = blank_attributes(raw, skipped)
    if len(skipped) > _MOST_RANGES:  # the facts still read the bytes as they are
        parser.included_ranges = []
        tree = parser.parse(_blanked(src, skipped))
    else:
        parser.included_ranges = _Ranges(src, skipped).cut(0, len(src)) if skipped else []
        tree = parser.parse(src)
    parsed = ParsedFile(src, tree, bodies, skipped)
    ranges = _Ranges(src, skipped)  # the chunks come in file order, a few ranges each
    for start, end in _runaway_regions(parsed.tree.root_node, src):
        parsed.lost.append((start, end))
        parsed.chunks.extend(_parse_chunks(parser, ranges, start, end))
    parser.included_ranges = []
    return parsed


def _blanked(src: bytes, ranges: Sequence[tuple[int, int]]) -> bytes:
    """src with the ranges (in file order) turned to spaces, newlines kept."""
    parts, pos = [], 0
    for start, end in ranges:
        parts += [src[pos:start], src[start:end].translate(_SPACES)]
        pos = end
    parts.append(src[pos:])
    return b"".join(parts)


def _runaway_regions(root: ts.Node, src: bytes) -> list[tuple[int, int]]:
    """Top-level ERROR nodes that swallowed more than one function body."""
    regions = []
    for node in root.children:
        if node.type != "ERROR" or node.end_byte - node.start_byte < _RUNAWAY_MIN_BYTES:
            continue
        closing = _CLOSING_BRACE.findall(src, node.start_byte, node.end_byte)
        if len(closing) >= 2:
            regions.append((node.start_byte, node.end_byte))
    return regions


def _parse_chunks(parser: ts.Parser, ranges: _Ranges, start: int, end: int) -> list[ts.Tree]:
    trees = []
    for chunk_start, chunk_end in _split_at_closing_braces(ranges.src, start, end):
        chunk = ranges.cut(chunk_start, chunk_end)
        if chunk:
            parser.included_ranges = chunk
            trees.append(parser.parse(ranges.src))
    return trees


def _split_at_closing_braces(src: bytes, start: int, end: int) -> list[tuple[int, int]]:
    bounds = [m.end() for m in _CLOSING_BRACE.finditer(src, start, end)]
    edges = [start] + bounds + ([end] if not bounds or bounds[-1] < end else [])
    return [(a, b) for a, b in zip(edges, edges[1:], strict=False) if b > a]


class _Ranges:
    """Parts of src without the skipped ranges, as tree-sitter ranges, asked for in
    file order: each skipped range and each line is passed over once for all the parts
    (a runaway region of n functions is n chunks; a search from the top for each cost
    n x n)."""

    def __init__(self, src: bytes, skipped: Sequence[tuple[int, int]]) -> None:
        self.src = src
        self.skipped = skipped
        self.next_gap = 0  # the first skipped range that may still matter
        self.row, self.counted = 0, 0  # src[:counted] holds `row` newlines

    def cut(self, start: int, end: int) -> list[ts.Range]:
        """src[start:end] without the skipped ranges; start no earlier than last time's."""
        skipped = self.skipped
        while self.next_gap < len(skipped) and skipped[self.next_gap][1] <= start:
            self.next_gap += 1
        kept, pos, i = [], start, self.next_gap
        while i < len(skipped) and skipped[i][0] < end:
            gap_start, gap_end = skipped[i]
            if gap_start > pos:
                kept.append((pos, gap_start))
            pos = max(pos, gap_end)
            i += 1
        if pos < end:
            kept.append((pos, end))
        return [ts.Range(self._point(a), self._point(b), a, b) for a, b in kept]

    def _point(self, byte: int) -> ts.Point:
        self.row += self.src.count(b"\n", self.counted, byte)
        self.counted = byte
        return ts.Point(self.row, byte - self.src.rfind(b"\n", 0, byte) - 1)
