"""Preprocessor facts from the bytes: function-like and MAX_ORDER #defines, and the
branches of every #if (two sites in different branches are never compiled together).
"""

from __future__ import annotations

import re

from kscan.facts.records import Define
from kscan.vocab import ORDER_FAMILY

_ORDER_NAME_RE = re.compile(r"\b(?:" + "|".join(ORDER_FAMILY) + r")\b")
# Directives start with a literal `#`, which `re` finds at C speed (a `^` anchor with
# re.M tries every line); that only blanks precede it on its line is checked after.
_DEFINE = re.compile(rb"#[ \t]*define[ \t]+(\w+)(\([^)\n]*\))?((?:[^\n]*\\\n)*[^\n]*)")


def _line_start(src: bytes, pos: int) -> int | None:
    """Where pos's line starts, if only blanks precede pos on it."""
    start = src.rfind(b"\n", 0, pos) + 1
    return start if not src[start:pos].strip() else None


_DIRECTIVE = re.compile(rb"#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b")


def branches(src: bytes) -> tuple[tuple[int, int, int, int], ...]:
    """The branches of every #if ... #endif, nested ones included (unbalanced input is
    cut off where it stops making sense)."""
    if src.find(b"#") < 0:
        return ()
    out, stack, count = [], [], 0  # stack: [conditional id, branch number, branch start]
    for match in _DIRECTIVE.finditer(src):
        line_start = _line_start(src, match.start())
        if line_start is None:
            continue
        word = match.group(1)
        if word.startswith(b"if"):
            stack.append([count, 0, match.end()])
            count += 1
        elif stack:
            cond, number, start = stack[-1]
            out.append((cond, number, start, line_start))
            if word == b"endif":
                stack.pop()
            else:
                stack[-1] = [cond, number + 1, match.end()]
    return tuple(out)


def defines(src: bytes) -> list[Define]:
    """Function-like macros (aliases for the call graph) and those that involve MAX_ORDER."""
    found: list[Define] = []
    if src.find(b"define") < 0:
        return found
    line, counted = 1, 0
    for match in _DEFINE.finditer(src):
        if match.start(2) < 0 and b"ORDER" not in match.group():
            continue  # object-like, no MAX_ORDER name: most #defines, decoded for nothing
        line_start = _line_start(src, match.start())
        if line_start is None:
            continue
        name, value = match[1].decode("utf-8", "replace"), match[3].decode("utf-8", "replace")
        params = match[2].decode("utf-8", "replace") if match[2] is not None else None
        if params is None and not _ORDER_NAME_RE.search(f"{name} {value}"):
            continue
        line += src.count(b"\n", counted, line_start)
        counted = line_start
        value = " ".join(value.replace("\\\n", " ").split())
        params_tuple = (
            tuple(p.strip() for p in params[1:-1].split(",") if p.strip()) if params else None
        )
        found.append(Define(name, params_tuple, value, line))
    return found
