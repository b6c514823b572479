"""Function bodies the parser may skip, chosen from the bytes before parsing.

A file that passes the prefilter is mostly functions no rule can use: in mm/ of 6.12,
nine bodies in ten name no memmap accessor, validity check, MAX_ORDER name or contig
API.  Parsing them costs two thirds of the parse.  So, before parsing, each
kernel-style body (a `{` line in column 0 after a line ending in `)`, closed by the
next `}` in column 0, braces balanced between) is tested against the same needs the
prefilter applies to whole files, on the body plus the text since the previous body
(the signature, its comment).  A body that meets none is left out of the parse
(tree-sitter `included_ranges`): the function keeps its name, parameters and span,
and its body reads as `{}`.  The calls of every kernel-style body, skipped or not, are
read from the bytes here, so skipping a body never changes them.

What a skipped body still gives the rules is what they read of functions without a
walk, a MAX_ORDER name or a contig API in them: calls (the call graph, validity
helpers of helpers, checks hoisted into callers) and `return` shapes.  Anything not
in kernel style is parsed whole.  `--no-prefilter` parses every body; tests compare
the two runs' findings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from sys import intern

from kscan.facts import Call
from kscan.vocab import ATTRIBUTES_WITH_ARGS

# Keywords, operators and attributes that look like calls in the bytes but are no call
# expression to tree-sitter-c (the parser never sees the attributes: kscan/parse.py).
_NOT_CALLS = frozenset(
    b"if for while switch return sizeof typeof __typeof__ __typeof do case "
    b"goto else _Alignof alignof __alignof__ __alignof offsetof __builtin_offsetof "
    b"_Generic __attribute__ __attribute asm __asm__ __asm volatile __volatile__".split()
) | {name.encode() for name in ATTRIBUTES_WITH_ARGS}
# Comments, string and character literals, preprocessor lines: no calls in them.  Every
# branch starts with one of / " ' or a newline (a body starts with one), which lets `re`
# skip ahead at C speed.  A comment left open runs to the end, as in C (and a search for
# its end per `/*` would be quadratic).
_NOT_CODE = re.compile(
    rb"/\*.*?(?:\*/|\Z)|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'"
    rb"|\n[ \t]*#(?:[^\n]*\\\n)*[^\n]*",
    re.S,
)
# A name and a parenthesis (possessive: four times faster than checking for members
# and keywords in the pattern, which calls_in does instead).
_CALL = re.compile(rb"\b([A-Za-z_]\w*+)\s*+\(")
# Balanced parentheses, five levels deep (deeper argument lists: _closing_parens).
_ARGS = re.compile(
    rb"\((?:[^()]++|\((?:[^()]++|\((?:[^()]++|\((?:[^()]++|\([^()]*+\))*+\))*+\))*+\))*+\)"
)


def skippable(
    src: bytes, bodies: list[tuple[int, int]], wanted: Callable[[bytes], bool]
) -> list[tuple[int, int]]:
    """(start, end) of the body interiors (between the braces) that are not wanted."""
    out = []
    previous = 0
    for open_, close in bodies:
        if not wanted(src[previous:close]):
            out.append((open_ + 1, close))
        previous = close + 1
    return out


def column0_bodies(src: bytes) -> list[tuple[int, int]]:
    """(offset of `{`, offset of `}`) of each kernel-style function body."""
    bodies = []
    pos = 0
    while (found := src.find(b"\n{", pos)) >= 0:
        open_ = found + 1
        close = src.find(b"\n}", open_)
        if close < 0:
            break
        close += 1
        pos = close
        if _opens_a_body(src, open_) and _balanced(src, open_ + 1, close):
            bodies.append((open_, close))
    return bodies


def _opens_a_body(src: bytes, open_: int) -> bool:
    """`{` alone on its line, after a line that ends a parameter list."""
    rest = src[open_ + 1 : open_ + 3]
    if not (rest[:1] == b"\n" or rest == b"\r\n"):
        return False
    head = src[max(0, open_ - 256) : open_].rstrip()
    return head.endswith(b")")


def _balanced(src: bytes, start: int, end: int) -> bool:
    return src.count(b"{", start, end) == src.count(b"}", start, end)


def calls_in(src: bytes, start: int, end: int, line: int) -> list[Call]:
    """The calls in src[start:end], which starts on `line`, as the parser would report
    them: name, argument list as written, 1-based line and byte column, byte offset."""
    code = _NOT_CODE.sub(_spaces, src[start:end])
    calls = []
    counted = start
    closing: dict[int, int] | None = None  # every ( -> its ), made when a call needs it
    for match in _CALL.finditer(code):
        name = match.group(1)
        if name in _NOT_CALLS or _member(code, match.start()):
            continue
        paren = match.end() - 1
        found = _ARGS.match(code, paren)
        if found is None:  # nested deeper than the pattern, or never closed
            closing = closing if closing is not None else _closing_parens(code)
        args_end = found.end() if found is not None else closing.get(paren, len(code) - 1) + 1
        byte = start + match.start()
        line += src.count(b"\n", counted, byte)
        counted = byte
        # one string per distinct name and argument list: smaller, faster pickles
        args = intern(src[start + paren : start + args_end].decode("utf-8", "replace"))
        calls.append(
            Call(intern(name.decode()), args, line, byte - src.rfind(b"\n", 0, byte), byte)
        )
    return calls


def _member(code: bytes, at: int) -> bool:
    """`a.f(`, `a->f(` (a call through a pointer) or GNU C's `a$f(` identifier."""
    before = code[at - 1] if at else 0
    return before in b".$" or (before == 0x3E and at > 1 and code[at - 2] == 0x2D)


def _spaces(match: re.Match[bytes]) -> bytes:
    return b" " * (match.end() - match.start())


def _closing_parens(code: bytes) -> dict[int, int]:
    """Offset of each `(` -> offset of its `)`, in one pass (10,000 nested calls would
    make a search per call quadratic)."""
    closing, opened = {}, []
    for match in _PAREN.finditer(code):
        if match.group() == b"(":
            opened.append(match.start())
        elif opened:
            closing[opened.pop()] = match.start()
    return closing


_PAREN = re.compile(rb"[()]")
