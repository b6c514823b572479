"""Values a body passes on, for range provenance (kscan/analysis/provenance/).

A body's assignments (initialisers, for-initialisers, `+=` and `-=`, and a variable
handed by address to an iterator or a parser, which fills it in), every call with its
argument list, member calls (`ops->fn(...)`) and the struct pointers it declares; and,
per file, the functions stored in struct members or handed to the attribute macros that
build ops tables.

Read from the bytes of the few functions a provenance chain visits (tens in mm/), not
stored for every body: keeping every call's arguments cost mm/ a third more facts
(a9f0544), and most bodies are never on a chain.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from operator import itemgetter

from kscan.facts.calls import BALANCED_ARGS, NOT_CODE, calls_in, lenient
from kscan.facts.records import Assignment, BodyFacts, Call, Registration
from kscan.parse.bodies import spaces

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
_NEWLINE = re.compile(rb"\n")
_ORDERING = re.compile(r"<=|>=|<|>")
_MEMBER_CALL = re.compile(rb"(?:->|\.)\s*([A-Za-z_]\w*)\s*(?=\()")
_OUT_ARG = re.compile(r"&\s*([A-Za-z_]\w*(?:\s*(?:->|\.)\s*[A-Za-z_]\w*)*)")
_DEREF_BEFORE = frozenset(b";{}(),:?=")


def body_facts(src: bytes, start: int, end: int, first_line: int) -> BodyFacts:
    """The assignments and calls of the function body src[start:end] (`{` to `}`),
    which starts on line `first_line`: every call with its argument list, member calls
    (`ops->fn(...)`), and the values variables get, out-parameters included."""
    body = src[start:end]
    code = NOT_CODE.sub(spaces, body)
    newlines = [m.start() for m in _NEWLINE.finditer(body)]

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
    found: list[Assignment] = []
    for match in _ASSIGNED.finditer(code):
        if match[1] and _is_store_through_pointer(code, match.start()):
            continue
        value = _VALUE.match(code, match.end())
        if value is None or not value[1].strip():
            continue  # `= { ... }`: an aggregate initialiser, no one value
        rhs = " ".join(lenient(body[value.start(1) : value.end(1)]).split())
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
    sides = [" ".join(side.split()) for side in _ORDERING.split(cond)]
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


def _member_calls(body: bytes, code: bytes, start: int, line: Callable[[int], int]) -> list[Call]:
    found: list[Call] = []
    for match in _MEMBER_CALL.finditer(code):
        args = BALANCED_ARGS.match(code, match.end())
        if args is None:
            continue
        col = match.start(1) - body.rfind(b"\n", 0, match.start(1))
        text = lenient(body[args.start() : args.end()])
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
    code = NOT_CODE.sub(spaces, src)
    found: list[tuple[bytes, bytes, int]] = []
    for match in _STORED.finditer(code):
        found.append((match[1], match[2], match.start()))
    for match in _ATTRIBUTE_MACRO.finditer(code):
        get, set_, show, store, rw = match.groups()
        pairs = [(b"get", get), (b"set", set_), (b"show", show), (b"store", store)]
        if rw:
            pairs = [(b"show", rw + b"_show"), (b"store", rw + b"_store")]
        found += [(member, fn, match.start()) for member, fn in pairs if fn]
    found = [(member, fn, at) for member, fn, at in found if name is None or fn == name]
    newlines = [m.start() for m in _NEWLINE.finditer(src)] if found else []
    return [
        Registration(member.decode(), fn.decode(), bisect_right(newlines, at - 1) + 1)
        for member, fn, at in found
    ]
