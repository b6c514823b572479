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
    out[start:end] = re.sub(rb"[^\n]", b" ", src[start:end])
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
        return any(a <= byte < b for a, b in self.lost)


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
    parser.included_ranges = _ranges(src, 0, len(src), skipped) if skipped else []
    parsed = ParsedFile(src, parser.parse(src), bodies, skipped)
    for start, end in _runaway_regions(parsed.tree.root_node, src):
        parsed.lost.append((start, end))
        parsed.chunks.extend(_parse_chunks(parser, src, start, end, skipped))
    parser.included_ranges = []
    return parsed


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


def _parse_chunks(
    parser: ts.Parser, src: bytes, start: int, end: int, skipped: Sequence[tuple[int, int]]
) -> list[ts.Tree]:
    trees = []
    for chunk_start, chunk_end in _split_at_closing_braces(src, start, end):
        ranges = _ranges(src, chunk_start, chunk_end, skipped)
        if ranges:
            parser.included_ranges = ranges
            trees.append(parser.parse(src))
    return trees


def _split_at_closing_braces(src: bytes, start: int, end: int) -> list[tuple[int, int]]:
    bounds = [m.end() for m in _CLOSING_BRACE.finditer(src, start, end)]
    edges = [start] + bounds + ([end] if not bounds or bounds[-1] < end else [])
    return [(a, b) for a, b in zip(edges, edges[1:], strict=False) if b > a]


def _ranges(
    src: bytes, start: int, end: int, skipped: Sequence[tuple[int, int]]
) -> list[ts.Range]:
    """src[start:end] without the skipped ranges, as tree-sitter ranges."""
    kept, pos = [], start
    for gap_start, gap_end in skipped:
        if gap_end <= pos or gap_start >= end:
            continue
        if gap_start > pos:
            kept.append((pos, gap_start))
        pos = gap_end
    if pos < end:
        kept.append((pos, end))
    ranges = []
    row, counted = src.count(b"\n", 0, start), start
    for a, b in kept:
        row += src.count(b"\n", counted, a)
        start_point = ts.Point(row, a - src.rfind(b"\n", 0, a) - 1)
        row += src.count(b"\n", a, b)
        counted = b
        ranges.append(ts.Range(start_point, ts.Point(row, b - src.rfind(b"\n", 0, b) - 1), a, b))
    return ranges
