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
helpers of helpers, checks hoisted into callers) and `return` shapes; its calls keep
their arguments only when they call one of the file's static functions (the range a
caller hands a static walker).  Anything not in kernel style is parsed whole.  A file
whose words meet a need only when taken from several functions at once (a hugetlb
helper here, a `struct page` count there) has no part that can give a finding, and is
not parsed at all (kscan/workers.py); what it offers as context, later prefilter
rounds ask for by name.  `--no-prefilter` parses every file and body; tests compare
the two runs' findings.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import partial
from itertools import accumulate, repeat
from operator import itemgetter, sub
from sys import intern

from kscan.facts import Assignment, BodyFacts, Call, Registration, new_call
from kscan.vocab import ATTRIBUTES_WITH_ARGS

# Keywords, operators and attributes that look like calls in the bytes but are no call
# expression to tree-sitter-c (the parser never sees the attributes: kscan/parse.py).
_NOT_CALLS = frozenset(
    b"if for while switch return sizeof typeof __typeof__ __typeof do case "
    b"goto else _Alignof alignof __alignof__ __alignof offsetof __builtin_offsetof "
    b"_Generic __attribute__ __attribute asm __asm__ __asm volatile __volatile__".split()
) | {name.encode() for name in ATTRIBUTES_WITH_ARGS}
# Comments, string and character literals, preprocessor lines: no calls in them.  The
# loops are possessive and unrolled ([^*]++ and the like), so that `re` runs through a
# comment or a string at C speed; a comment left open runs to the end, as in C.  A `#`
# outside them only ever starts a directive, which ends at a newline without a `\`.
_COMMENT = rb"/\*(?:[^*]++|\*++(?!/))*+(?:\*++/)?|//[^\n]*+"
_LITERAL = rb"\"[^\"\\\n]*+(?:\\.[^\"\\\n]*+)*+\"|'[^'\\\n]*+(?:\\.[^'\\\n]*+)*+'"
_NOT_CODE = re.compile(_COMMENT + b"|" + _LITERAL + rb"|#(?:[^\n\\]++|\\\n?)*+", re.S)
_COMMENT_OR_LITERAL = re.compile(_COMMENT + b"|" + _LITERAL, re.S)
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
_ARGS = re.compile(
    rb"\((?:[^()]++|\((?:[^()]++|\((?:[^()]++|\((?:[^()]++|\([^()]*+\))*+\))*+\))*+\))*+\)"
)


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
    return _spaces(match) if match.group().startswith(b"/") else match.group()


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


def calls_in(
    src: bytes,
    bodies: list[tuple[int, int]],
    skipped: list[tuple[int, int]] = (),
    args_for: set[str] = frozenset(),
) -> list[Call]:
    """The calls in the bodies' interiors, in file order, as the parser would report
    them: name, argument list as written, 1-based line and byte column, byte offset.
    A call in a skipped body (`skipped`: their interiors) keeps its argument list only
    when it calls one of `args_for`, the file's static functions: the one thing rules
    read of such arguments is how a caller sizes the range it hands a static walker
    (kscan/walks.py).  Dropping the others cuts mm/'s argument text by two thirds.

    The files mm/ parses hold 24,000 calls: after one search per body, each step runs
    over all the calls at once in C (map, slices, counts) instead of a Python loop per
    call, which took half as long again."""
    code = _NOT_CODE.sub(_spaces, src)
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
    return list(map(new_call, zip(names, texts, lines, cols, starts, strict=True)))


def _args_texts(src, code, found, owners, names, skipped, args_for) -> list[str]:
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
        kept = map(_lenient, map(src.__getitem__, map(slice, parens, ends)))
    texts = [""] * len(found)
    for i, text in zip(wanted, kept, strict=True):
        texts[i] = intern(text)  # one string per distinct argument list: smaller pickles
    return texts


class _Names(dict):
    """Backwards name bytes -> the name, interned; a worker meets each name once."""

    def __missing__(self, backwards: bytes) -> str:
        name = self[backwards] = intern(backwards[::-1].decode())
        return name


_NAMES = _Names()
_lenient = partial(bytes.decode, encoding="utf-8", errors="replace")


def _args_ends(code: bytes, parens: list[int], owners: list[tuple[int, int]]) -> list[int]:
    """Where each call's argument list ends, within its body."""
    matches = list(map(_ARGS.match, repeat(code), parens, map(itemgetter(1), owners)))
    if None not in matches:
        return list(map(re.Match.end, matches))
    closing: dict[tuple[int, int], dict[int, int]] = {}  # body -> its ( -> ), when needed
    ends = []
    for paren, body, match in zip(parens, owners, matches, strict=True):
        if match is None:  # nested deeper than _ARGS, or never closed
            if body not in closing:
                closing[body] = _closing_parens(code, body[0] + 1, body[1])
            ends.append(closing[body].get(paren, body[1] - 1) + 1)
        else:
            ends.append(match.end())
    return ends


def _spaces(match: re.Match[bytes]) -> bytes:
    return b" " * (match.end() - match.start())


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


# -- values a body passes on (range provenance, kscan/provenance) ----------------------
#
# Read from the bytes of the few functions a provenance chain visits (tens in mm/), not
# stored for every body: keeping every call's arguments cost mm/ a third more facts
# (a9f0544), and most bodies are never on a chain.

# `lhs = `, `lhs += `, `lhs -= ` (not `==`, `<=` ...); lhs an identifier or member chain
# that is no member itself, maybe behind `*` (a declarator, or a store through a pointer)
_ASSIGNED = re.compile(
    rb"(?<![\w.>$])(\*\s*)?([A-Za-z_]\w*(?:\s*(?:->|\.)\s*[A-Za-z_]\w*)*)\s*([-+]?=)(?!=)"
)
# A value: up to a `,`, `;`, `)` or brace at its own level (brackets and parentheses
# balanced, five deep).
_VALUE = re.compile(
    rb"\s*((?:[^;,(){}\[\]]++|\[[^\]]*+\]"
    rb"|\((?:[^()]++|\((?:[^()]++|\((?:[^()]++|\((?:[^()]++|\([^()]*+\))*+\))*+\))*+\))*+\))++)"
)
_MEMBER_CALL = re.compile(rb"(?:->|\.)\s*([A-Za-z_]\w*)\s*(?=\()")
_OUT_ARG = re.compile(r"&\s*([A-Za-z_]\w*(?:\s*(?:->|\.)\s*[A-Za-z_]\w*)*)")
_DEREF_BEFORE = frozenset(b";{}(),:?=")


def body_facts(src: bytes, start: int, end: int, first_line: int) -> BodyFacts:
    """The assignments and calls of the function body src[start:end] (`{` to `}`),
    which starts on line `first_line`: every call with its argument list, member calls
    (`ops->fn(...)`), and the values variables get, out-parameters included."""
    body = src[start:end]
    code = _NOT_CODE.sub(_spaces, body)
    newlines = [m.start() for m in re.finditer(rb"\n", body)]

    def line(offset: int) -> int:
        return first_line + bisect_right(newlines, offset - 1)

    calls = tuple(
        Call(c.name, c.args_text, line(c.byte), c.col, c.byte + start)
        for c in calls_in(body, [(0, len(body) - 1)])
    )
    assignments = [
        a._replace(line=line(a.byte), byte=a.byte + start) for a in _assignments(body, code)
    ]
    assignments += [a for call in calls for a in _filled_by(call)]
    return BodyFacts(
        tuple(sorted(assignments, key=itemgetter(4))),
        calls,
        tuple(_member_calls(body, code, start, line)),
        tuple((m[3].decode(), (m[1] or m[2]).decode()) for m in _POINTER.finditer(code)),
    )


# `struct zone *zone`, `pg_data_t *pgdat`: the first declarator of a pointer declaration
_POINTER = re.compile(rb"\b(?:struct\s+(\w+)|(\w+_t))\s*\*+\s*([A-Za-z_]\w*)\s*[=;,)\[]")


def _assignments(body: bytes, code: bytes) -> list[Assignment]:
    found = []
    for match in _ASSIGNED.finditer(code):
        if match[1] and _is_store_through_pointer(code, match.start()):
            continue
        value = _VALUE.match(code, match.end())
        if value is None or not value[1].strip():
            continue  # `= { ... }`: an aggregate initialiser, no one value
        rhs = " ".join(_lenient(body[value.start(1) : value.end(1)]).split())
        rhs = _CHAINED.split(rhs)[-1].strip()  # `a = b = c`: a's value is c
        lhs = b"".join(match[2].split()).decode()
        op = match[3].decode()
        if op == "=" and _clamps(code, match.start(), lhs, rhs):
            op = "clamp"
        found.append(Assignment(lhs, op, rhs, 0, match.start(2)))
    return found


_CHAINED = re.compile(r"(?<![=!<>+\-*/%&|^])=(?!=)")
# `if (start < max_low)` right before an assignment (up to a `(` of its own)
_IF_BEFORE = re.compile(rb"\bif\s*\(([^;{}]*)\)\s*\{?\s*$")


def _clamps(code: bytes, start: int, lhs: str, rhs: str) -> bool:
    """`if (start < max_low) start = max_low;`: the value only narrows what lhs holds,
    as max() would; it is no value of its own."""
    head = _IF_BEFORE.search(code, max(0, start - 200), start)
    if head is None:
        return False
    cond = head[1].decode("utf-8", "replace")
    sides = [" ".join(side.split()) for side in re.split(r"<=|>=|<|>", cond)]
    return len(sides) == 2 and {lhs, rhs} == {sides[0].strip(" ()"), sides[1].strip(" ()")}


def _is_store_through_pointer(code: bytes, star: int) -> bool:
    """`*p = v;` stores through p; in `struct page *page = v` the `*` is a declarator's."""
    before = code[:star].rstrip()
    return not before or before[-1] in _DEREF_BEFORE


def _filled_by(call: Call) -> list[Assignment]:
    """`&var` handed to a call may be written by it; an iterator macro sets its first
    argument (`for_each_mem_region(region)`) as well."""
    iterator = "for_each" in call.name
    if not iterator and "&" not in call.args_text:
        return []
    args = call.args
    filled = [m[1] for arg in args if (m := _OUT_ARG.fullmatch(arg))]
    if iterator and args and _IDENT_ARG.fullmatch(args[0]):
        filled.insert(0, args[0])
    text = f"{call.name}{' '.join(call.args_text.split())}"
    return [Assignment("".join(var.split()), "&", text, call.line, call.byte) for var in filled]


_IDENT_ARG = re.compile(r"[A-Za-z_]\w*")


def _member_calls(body: bytes, code: bytes, start: int, line) -> list[Call]:
    found = []
    for match in _MEMBER_CALL.finditer(code):
        args = _ARGS.match(code, match.end())
        if args is None:
            continue
        col = match.start(1) - body.rfind(b"\n", 0, match.start(1))
        text = _lenient(body[args.start() : args.end()])
        found.append(
            Call(match[1].decode(), text, line(match.start(1)), col, start + match.start(1))
        )
    return found


# `.member = fn,` in an initialiser, `x->member = fn;`, `&fn` as well
_STORED = re.compile(rb"(?:\.|->)\s*([A-Za-z_]\w*)\s*=\s*&?\s*([A-Za-z_]\w*)\s*(?=[,;}])")
# DEFINE_DEBUGFS_ATTRIBUTE(fops, get, set, fmt) and friends; DEVICE_ATTR(name, mode, show, store)
_ATTRIBUTE_MACRO = re.compile(
    rb"\bDEFINE_\w*ATTRIBUTE\w*\s*\(\s*\w+\s*,\s*(\w+)\s*,\s*(\w+)"
    rb"|\b\w*DEVICE_ATTR\s*\(\s*\w+\s*,[^,]*,\s*(\w+)\s*,\s*(\w+)"
    rb"|\b\w*_ATTR_(?:RW|WO)\s*\(\s*(\w+)\s*\)"
)


def registrations(src: bytes, name: bytes | None = None) -> list[Registration]:
    """Functions stored in struct members (ops tables) or handed to attribute macros
    that generate one (`DEFINE_DEBUGFS_ATTRIBUTE`, `DEVICE_ATTR_WO`): the member, the
    name stored, its line.  With `name`, only those that store it."""
    if name is not None and src.find(name) < 0:
        return []
    code = _NOT_CODE.sub(_spaces, src)
    found = []
    for match in _STORED.finditer(code):
        found.append((match[1], match[2], match.start()))
    for match in _ATTRIBUTE_MACRO.finditer(code):
        get, set_, show, store, rw = match.groups()
        pairs = [(b"get", get), (b"set", set_), (b"show", show), (b"store", store)]
        if rw:
            pairs = [(b"show", rw + b"_show"), (b"store", rw + b"_store")]
        found += [(member, fn, match.start()) for member, fn in pairs if fn]
    return [
        Registration(member.decode(), fn.decode(), src.count(b"\n", 0, at) + 1)
        for member, fn, at in found
        if name is None or fn == name
    ]
