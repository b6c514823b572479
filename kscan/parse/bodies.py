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
read from the bytes (kscan/facts/calls.py), so skipping a body never changes them.

What a skipped body still gives the rules is what they read of functions without a
walk, a MAX_ORDER name or a contig API in them: calls (the call graph, validity
helpers of helpers, checks hoisted into callers) and `return` shapes; its calls keep
their arguments only when they call one of the file's static functions (the range a
caller hands a static walker).  Anything not in kernel style is parsed whole.  A file
whose words meet a need only when taken from several functions at once (a hugetlb
helper here, a `struct page` count there) has no part that can give a finding, and is
not parsed at all (kscan/facts/workers.py); what it offers as context, later prefilter
rounds ask for by name.  `--no-prefilter` parses every file and body; tests compare
the two runs' findings.
"""


from __future__ import annotations

import re

# Comments and string and character literals.  The loops are possessive and unrolled
# ([^*]++ and the like), so that `re` runs through a comment or a string at C speed; a
# comment left open runs to the end, as in C.
COMMENT = rb"/\*(?:[^*]++|\*++(?!/))*+(?:\*++/)?|//[^\n]*+"
LITERAL = rb"\"[^\"\\\n]*+(?:\\.[^\"\\\n]*+)*+\"|'[^'\\\n]*+(?:\\.[^'\\\n]*+)*+'"
_COMMENT_OR_LITERAL = re.compile(COMMENT + b"|" + LITERAL, re.S)


def parts(src: bytes, bodies: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """src cut at its kernel-style bodies: each body with the text since the previous
    one (its head, its comment), then the text after the last body.  Together they are
    all of src but the bodies' closing braces; the prefilter tests them one by one."""
    starts = [0] + [close + 1 for _, close in bodies]
    ends = [close for _, close in bodies] + [len(src)]
    return list(zip(starts, ends, strict=True))


def skipped_interiors(bodies: list[tuple[int, int]], keep: list[bool]) -> list[tuple[int, int]]:
    """(start, end) of the interiors (between the braces) of the bodies not kept."""
    return [
        (open_ + 1, close) for (open_, close), kept in zip(bodies, keep, strict=True) if not kept
    ]


def blank_comments(src: bytes) -> bytes:
    """src with its comments blanked (a `/*` in a string is no comment): a rule word
    in a comment gives no fact, so it does not make a function worth parsing."""
    return _COMMENT_OR_LITERAL.sub(_comment_spaces, src)


def _comment_spaces(match: re.Match[bytes]) -> bytes:
    return spaces(match) if match.group().startswith(b"/") else match.group()


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


def spaces(match: re.Match[bytes]) -> bytes:
    return b" " * (match.end() - match.start())

