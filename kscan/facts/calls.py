"""Calls: each call's name, argument list as written, and position.

Calls in kernel-style function bodies are read from the bytes, whether the parser saw
the body or skipped it (kscan/parse/bodies.py), so skipping a body never changes its
calls; a call in a skipped body keeps its argument list only when it calls one of the
file's static functions.  Calls elsewhere (bodies not in kernel style, initialisers)
come from the tree.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from functools import partial
from itertools import accumulate, repeat
from operator import itemgetter, sub
from typing import cast

import tree_sitter as ts

from kscan.facts.records import Call
from kscan.facts.source import Text
from kscan.parse.bodies import COMMENT, LITERAL, spaces
from kscan.parse.parser import ParsedFile
from kscan.vocab import ATTRIBUTES_WITH_ARGS

# Keywords, operators and attributes that look like calls in the bytes but are no call
# expression to tree-sitter-c (the parser never sees the attributes: kscan/parse/parser.py).
_NOT_CALLS = frozenset(
    b"if for while switch return sizeof typeof __typeof__ __typeof do case "
    b"goto else _Alignof alignof __alignof__ __alignof offsetof __builtin_offsetof "
    b"_Generic __attribute__ __attribute asm __asm__ __asm volatile __volatile__".split()
) | {name.encode() for name in ATTRIBUTES_WITH_ARGS}
# Comments, string and character literals, preprocessor lines: no calls in them.  A `#`
# outside the first two only ever starts a directive, which ends at a newline without a `\`.
NOT_CODE = re.compile(COMMENT + b"|" + LITERAL + rb"|#(?:[^\n\\]++|\\\n?)*+", re.S)
# A call read backwards: `(`, blanks, a name that is no keyword, does not start with a
# digit and is no member (`a.f(`, `a->f(`, GNU C's `a$f(`).  Backwards, the pattern
# starts with a literal `(`, which `re` finds at C speed; forwards it would try every
# identifier.
_CALL_BACKWARDS = re.compile(
    rb"\(\s*+(?!(?:"
    + b"|".join(re.escape(name[::-1]) for name in sorted(_NOT_CALLS, key=len, reverse=True))
    + rb")(?!\w))(\w++)(?<![0-9])(?!>-|[.$])"
)
# Balanced parentheses, five levels deep (deeper argument lists: _closing_parens).
BALANCED_ARGS = re.compile(
    rb"\((?:[^()]++|\((?:[^()]++|\((?:[^()]++|\((?:[^()]++|\([^()]*+\))*+\))*+\))*+\))*+\)"
)


_BYTE = itemgetter(4)  # Call.byte, as a C-level sort key


def callee_end(call: ts.Node) -> int:
    """Where a call's callee name ends."""
    callee = call.child_by_field_name("function")
    assert callee is not None  # the file query matches only calls with a callee
    return callee.end_byte


def file_calls(
    text: Text, nodes: list[ts.Node], parsed: ParsedFile, statics: set[str]
) -> list[Call]:
    """Calls in kernel-style bodies are read from the bytes (calls_in below), whether
    the parser saw the body or not, so skipping one never changes its calls (those in a
    skipped body keep their arguments only when they call one of this file's `statics`).
    Others come from the tree."""
    src, bodies = text.src, parsed.bodies
    calls = []
    body_starts = [open_ for open_, _ in bodies]
    for node in nodes:
        start = node.start_byte
        i = bisect.bisect_left(body_starts, start) - 1
        if i >= 0 and start < bodies[i][1]:
            continue  # inside a body: read from the bytes below
        name_end = callee_end(node)
        row, col = node.start_point
        calls.append(
            Call(
                src[start:name_end].decode("utf-8", "replace"),
                src[name_end : node.end_byte].decode("utf-8", "replace").strip(),
                row + 1,
                col + 1,
                start,
            )
        )
    calls += calls_in(src, bodies, parsed.skipped, statics)
    calls.sort(key=_BYTE)
    return calls


def calls_in(
    src: bytes,
    bodies: list[tuple[int, int]],
    skipped: Sequence[tuple[int, int]] = (),
    args_for: AbstractSet[str] = frozenset(),
) -> list[Call]:
    """The calls in the bodies' interiors, in file order, as the parser would report
    them: name, argument list as written, 1-based line and byte column, byte offset.
    A call in a skipped body (`skipped`: their interiors) keeps its argument list only
    when it calls one of `args_for`, the file's static functions: the one thing rules
    read of such arguments is how a caller sizes the range it hands a static walker
    (kscan/analysis/walks.py).  Dropping the others cuts mm/'s argument text by two thirds.

    The files mm/ parses hold 24,000 calls: after one search per body, each step runs
    over all the calls at once in C (map, slices, counts) instead of a Python loop per
    call, which took half as long again."""
    if not bodies:
        return []
    code = NOT_CODE.sub(spaces, src)
    backwards = code[::-1]
    size = len(code)
    found: list[re.Match[bytes]] = []
    owners: list[tuple[int, int]] = []  # each call's body
    for body in bodies:
        # the interior [open + 1, close) is [size - close, size - 1 - open) backwards
        matches = list(_CALL_BACKWARDS.finditer(backwards, size - body[1], size - 1 - body[0]))
        matches.reverse()
        found += matches
        owners += [body] * len(matches)
    if not found:
        return []
    starts = list(map(size.__sub__, map(re.Match.end, found, repeat(1))))
    lines = accumulate(map(src.count, repeat(b"\n"), [0, *starts[:-1]], starts), initial=1)
    next(lines)  # the initial 1
    cols = map(sub, starts, map(src.rfind, repeat(b"\n"), repeat(0), starts))
    names = list(map(_NAMES.__getitem__, map(re.Match.group, found, repeat(1))))
    texts = _args_texts(src, code, found, owners, names, skipped, args_for)
    return list(map(Call._make, zip(names, texts, lines, cols, starts, strict=True)))


def _args_texts(
    src: bytes,
    code: bytes,
    found: list[re.Match[bytes]],
    owners: list[tuple[int, int]],
    names: list[str],
    skipped: Sequence[tuple[int, int]],
    args_for: AbstractSet[str],
) -> list[str]:
    """Each call's argument list as written, or "" (see calls_in)."""
    size = len(code)
    dropped = {(start - 1, end) for start, end in skipped}  # the skipped bodies
    wanted = [
        i
        for i, (body, name) in enumerate(zip(owners, names, strict=True))
        if body not in dropped or name in args_for
    ]
    parens = [size - 1 - found[i].start() for i in wanted]
    ends = _args_ends(code, parens, [owners[i] for i in wanted])
    if src.isascii():  # byte offsets are character offsets
        kept = map(src.decode("ascii").__getitem__, map(slice, parens, ends))
    else:
        kept = map(lenient, map(src.__getitem__, map(slice, parens, ends)))
    texts = [""] * len(found)
    for i, text in zip(wanted, kept, strict=True):
        texts[i] = text
    return texts


class _Names(dict[bytes, str]):
    """Backwards name bytes -> the name: a worker decodes each name once."""

    def __missing__(self, backwards: bytes) -> str:
        name = self[backwards] = backwards[::-1].decode()
        return name


_NAMES = _Names()
lenient = partial(bytes.decode, encoding="utf-8", errors="replace")


def _args_ends(code: bytes, parens: list[int], owners: list[tuple[int, int]]) -> list[int]:
    """Where each call's argument list ends, within its body."""
    matches = list(map(BALANCED_ARGS.match, repeat(code), parens, map(itemgetter(1), owners)))
    if None not in matches:
        return list(map(re.Match.end, cast(list[re.Match[bytes]], matches)))
    closing: dict[tuple[int, int], dict[int, int]] = {}  # body -> its ( -> ), when needed
    ends = []
    for paren, body, match in zip(parens, owners, matches, strict=True):
        if match is None:  # nested deeper than BALANCED_ARGS, or never closed
            if body not in closing:
                closing[body] = _closing_parens(code, body[0] + 1, body[1])
            ends.append(closing[body].get(paren, body[1] - 1) + 1)
        else:
            ends.append(match.end())
    return ends


def _closing_parens(code: bytes, start: int, end: int) -> dict[int, int]:
    """Offset of each `(` in code[start:end] -> offset of its `)`, in one pass (10,000
    nested calls would make a search per call quadratic)."""
    closing, opened = {}, []
    for match in _PAREN.finditer(code, start, end):
        if match.group() == b"(":
            opened.append(match.start())
        elif opened:
            closing[opened.pop()] = match.start()
    return closing


_PAREN = re.compile(rb"[()]")
