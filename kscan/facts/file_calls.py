"""A file's part of the call graph (FileCalls), and what the call graph reads of any
file's facts: its definitions, the names each calls, and where.

`kscan hotspots` and `graph` cache a FileCalls per file, not its FileFacts: each
function and function-like macro with the first call to each name it calls.  The call
graph (kscan/callgraph/graph.py) reads FileFacts and FileCalls alike through
definitions() and call_sites().
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from operator import attrgetter

from kscan.facts.records import FileCalls, FileFacts

_CALLED_IN_MACRO = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_NOT_CALLS = frozenset(
    {
        "if",
        "for",
        "while",
        "switch",
        "return",
        "sizeof",
        "typeof",
        "__typeof__",
        "do",
        "defined",
        "__builtin_constant_p",
    }
)
_NAME = attrgetter("name")  # of a Call


def definitions(file: FileFacts | FileCalls) -> Iterator[tuple[str, str, int, Iterable[str]]]:
    """(name, kind letter as in FileCalls.kinds, line, the names it calls) of each
    function and function-like macro in file."""
    if isinstance(file, FileCalls):
        start = 0
        for name, kind, line, end in zip(
            file.names, file.kinds, file.lines, file.ends, strict=True
        ):
            yield name, kind, line, file.callees[start:end]
            start = end
        return
    for fn in file.functions:
        yield fn.name, "s" if fn.static else "f", fn.span.start_line, map(_NAME, fn.calls)
    for define in file.defines:
        if define.params is not None:  # a macro's body calls each name once, at the #define
            yield define.name, "m", define.line, sorted(macro_calls(define.value, define.name))


def call_sites(file: FileFacts | FileCalls) -> Iterator[tuple[str, Iterable[tuple[str, int]]]]:
    """(name, (callee, line) of its calls) of each definition in file."""
    if isinstance(file, FileCalls):
        start = 0
        for name, end in zip(file.names, file.ends, strict=True):
            yield name, zip(file.callees[start:end], file.sites[start:end], strict=True)
            start = end
        return
    for fn in file.functions:
        yield fn.name, ((call.name, call.line) for call in fn.calls)
    for define in file.defines:
        if define.params is not None:
            line = define.line
            calls = sorted(macro_calls(define.value, define.name))
            yield define.name, ((name, line) for name in calls)


def file_calls(facts: FileFacts) -> FileCalls:
    """The part of a file's facts the call graph reads, with each definition's calls
    cut to the first of each callee."""
    out = FileCalls(facts.path)
    names: list[str] = []
    kinds: list[str] = []
    callees: list[str] = []
    for (name, kind, line, _), (_, calls) in zip(
        definitions(facts), call_sites(facts), strict=True
    ):
        first = dict(reversed(list(calls)))  # callee -> the line of its first call
        names.append(name)
        kinds.append(kind)
        out.lines.append(line)
        callees += first
        out.sites.extend(first.values())
        out.ends.append(len(callees))
    out.names, out.kinds, out.callees = tuple(names), "".join(kinds), tuple(callees)
    return out


def macro_calls(value: str, name: str) -> set[str]:
    """The names a function-like macro's body calls (itself left out)."""
    return {c for c in _CALLED_IN_MACRO.findall(value) if c not in _NOT_CALLS and c != name}
