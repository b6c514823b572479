"""Preprocessor facts from the bytes: function-like and MAX_ORDER #defines, and the
branches of every #if (two sites in different branches are never compiled together).
For a Watch (kscan what-if): #error directives and each #if branch's condition.
"""

from __future__ import annotations

import re

from kscan.facts.records import Define, ErrorDirective
from kscan.facts.source import names_re
from kscan.vocab import ORDER_FAMILY

_ORDER_NAME_RE = names_re(ORDER_FAMILY)
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


def defines(src: bytes, named: re.Pattern[str] = _ORDER_NAME_RE) -> list[Define]:
    """Function-like macros (aliases for the call graph) and object-like ones that name
    MAX_ORDER (or a watched name)."""
    found: list[Define] = []
    if src.find(b"define") < 0:
        return found
    line, counted = 1, 0
    only_orders = named is _ORDER_NAME_RE  # a watch's names need not hold ORDER
    for match in _DEFINE.finditer(src):
        if only_orders and match.start(2) < 0 and b"ORDER" not in match.group():
            continue  # object-like, no MAX_ORDER name: most #defines, decoded for nothing
        line_start = _line_start(src, match.start())
        if line_start is None:
            continue
        name, value = match[1].decode("utf-8", "replace"), match[3].decode("utf-8", "replace")
        params = match[2].decode("utf-8", "replace") if match[2] is not None else None
        if params is None and not named.search(f"{name} {value}"):
            continue
        line += src.count(b"\n", counted, line_start)
        counted = line_start
        value = " ".join(value.replace("\\\n", " ").split())
        params_tuple = (
            tuple(p.strip() for p in params[1:-1].split(",") if p.strip()) if params else None
        )
        found.append(Define(name, params_tuple, value, line))
    return found


_CONDITIONAL = re.compile(
    rb"#[ \t]*(ifdef|ifndef|if|elif|else|endif|error)\b((?:[^\n]*\\\n)*[^\n]*)"
)
_C_COMMENT = re.compile(r"/\*.*?\*/|//.*")
BranchCondition = tuple[int, int, str]  # FileFacts.conditions


def directives(src: bytes) -> tuple[tuple[ErrorDirective, ...], tuple[BranchCondition, ...]]:
    """(#error directives, branch conditions): see ErrorDirective and
    FileFacts.conditions."""
    errors: list[ErrorDirective] = []
    conditions: list[BranchCondition] = []
    # per open #if: its branches' conditions so far, and the line its last branch starts
    stack: list[tuple[list[str], int]] = []
    line, counted = 1, 0
    for match in _CONDITIONAL.finditer(src):
        if _line_start(src, match.start()) is None:
            continue
        line += src.count(b"\n", counted, match.start())
        counted = match.start()
        word = match.group(1).decode()
        rest = _C_COMMENT.sub(" ", match.group(2).decode("utf-8", "replace"))
        rest = " ".join(rest.replace("\\\n", " ").split())
        if word in ("if", "ifdef", "ifndef"):
            own = {"if": rest, "ifdef": f"defined({rest})", "ifndef": f"!defined({rest})"}
            stack.append(([own[word]], line))
        elif word in ("elif", "else", "endif") and stack:
            branches, first = stack.pop()
            conditions.append((first, line, _branch_condition(branches)))
            if word != "endif":
                branches.append(rest if word == "elif" else "")
                stack.append((branches, line))
        elif word == "error":
            cond = " && ".join(_branch_condition(b) for b, _ in stack)
            errors.append(ErrorDirective(cond, rest, line))
    return tuple(errors), tuple(conditions)


def _branch_condition(branches: list[str]) -> str:
    """The condition of the last branch: its own, and none of the earlier ones'."""
    *earlier, own = branches
    terms = [f"!({c})" for c in earlier] + ([f"({own})"] if own else [])
    return " && ".join(terms)
