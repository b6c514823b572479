"""Per-file facts: the compact, picklable summary of a parsed C file.

Workers parse a file with tree-sitter and send back a FileFacts, never a tree.
Rules read only these classes.  The records are NamedTuples: a whole tree sends over
a hundred thousand calls across the process boundary and through the cache, and
FileFacts pickles its functions as plain tuples (see FileFacts.__reduce__), which load
without a Python call per record: 3% CPU of `kscan mm/` cold (bench/bench.py --variant,
medians of 21 and 61 paired runs on a busy machine: 2.9%, 3.7%).  Positions are
1-based lines and columns (bytes); `byte` fields are offsets into the file, used to
order and nest facts.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from sys import intern
from typing import Any, Literal, NamedTuple

from kscan.facts.intervals import Holders
from kscan.vocab import IDENT


class Span(NamedTuple):
    start_line: int
    start_col: int
    end_line: int
    start_byte: int
    end_byte: int

    def contains(self, byte: int) -> bool:
        return self.start_byte <= byte < self.end_byte

    @property
    def bytes(self) -> tuple[int, int]:
        return self.start_byte, self.end_byte


class Call(NamedTuple):
    name: str
    # the argument list as written, parentheses included; "" in a body the parser
    # skipped, unless it calls a static function of the file (kscan/facts/calls.py calls_in)
    args_text: str
    line: int
    col: int
    byte: int

    @property
    def args(self) -> tuple[str, ...]:
        """Argument texts, whitespace-normalised (split lazily: most calls never ask)."""
        return split_args(self.args_text)


def mentions(text: str, name: str) -> bool:
    """`name` (an identifier or `a->b` expression) occurs in text as a whole word."""
    start = text.find(name)
    while start >= 0:
        end = start + len(name)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (before.isalnum() or before == "_" or after.isalnum() or after == "_"):
            return True
        start = text.find(name, start + 1)
    return False


_NESTING = re.compile(r"[][(){}\"']")


def split_args(text: str) -> tuple[str, ...]:
    """Split `(a, f(b, c), d[1])` at top-level commas."""
    inner = text.strip()
    if inner.startswith("(") and inner.endswith(")"):
        inner = inner[1:-1]
    if _NESTING.search(inner) is None:  # every comma separates (most argument lists)
        return tuple(a for a in (" ".join(a.split()) for a in inner.split(",")) if a)
    args, depth, start, quote = [], 0, 0, ""
    for i, ch in enumerate(inner):
        if quote:
            quote = "" if ch == quote and inner[i - 1] != "\\" else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(inner[start:i])
            start = i + 1
    args.append(inner[start:])
    return tuple(a for a in (" ".join(a.split()) for a in args) if a)


class Step(NamedTuple):
    """One way a loop advances a variable: `pfn++`, `pfn += n`, `page = next(page)`."""

    var: str
    op: str  # "++", "--", "+=", "-=", "="
    amount: str  # "1" for ++/--, the right-hand side text otherwise
    in_update: bool  # in the for-update clause (else a statement in the body)


class Exit(NamedTuple):
    """A guarded jump in a loop body: `if (cond) continue;` and friends.  Its guard is
    the innermost `if` whose then-branch holds the jump; `byte` is where that `if`'s
    condition starts."""

    kind: str  # "continue" | "break" | "return" | "goto"
    cond: str
    cond_calls: tuple[str, ...]
    cond_idents: frozenset[str]
    byte: int
    line: int


class Guard(NamedTuple):
    """An `if` or `?:` in a detailed loop, by its parts' byte ranges: a call in its
    then- or else-branch runs under its condition, and a call in its condition under
    the conjuncts left of it.  Guards nest: `parent` is the index (in FileFacts.guards)
    of the innermost guard holding this one, -1 for none.  A call's guards are found
    by walking up from the innermost one, so a chain of a thousand else-ifs is a
    thousand records, not half a million."""

    cond: tuple[int, int]
    then: tuple[int, int]
    other: tuple[int, int] | None  # the else-branch
    parent: int


class LoopCall(NamedTuple):
    call: Call
    guard: int  # the innermost Guard holding the call (FileFacts.guards), -1 for none


class Assign(NamedTuple):
    """`lhs = name(args)` or `T *lhs = name(args)` inside a loop body."""

    lhs: str
    call: str
    byte: int


class Index(NamedTuple):
    """Pointer arithmetic on an identifier: `base + offset`, `base[offset]`, `&base[offset]`."""

    base: str
    offset: str
    line: int
    col: int
    byte: int


class Loop(NamedTuple):
    """A loop.  Body facts are the loop's own: what sits in its body but in no detailed
    loop nested in it (a loop holds its nested loops' facts through `parent`, so a nest
    of a thousand loops does not repeat the innermost one's facts a thousand times).
    Only loops whose text names a pfn, a page or a folio have body facts (`detailed`);
    every loop around a detailed one is detailed too."""

    kind: str  # "for" | "while" | "do" | "macro"
    function: str | None
    span: Span
    body: Span
    cond: str  # for/while/do condition; the macro's argument list for macro loops
    init: str = ""  # for-initialiser text
    macro: str = ""  # iterator macro name for macro loops
    macro_args: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    cond_calls: tuple[str, ...] = ()
    calls: tuple[LoopCall, ...] = ()  # calls in the body
    # continue/break of this loop; return/goto in it (a return or goto exits every
    # loop around it too: the rules count it for each one whose body holds its guard)
    exits: tuple[Exit, ...] = ()
    assigns: tuple[Assign, ...] = ()
    indexes: tuple[Index, ...] = ()
    detailed: bool = False  # body facts were extracted (the loop passed the prefilter)
    parent: int = -1  # the innermost loop whose body holds this one (in FileFacts.loops)

    @property
    def induction_vars(self) -> tuple[str, ...]:
        """Variables the loop advances: the for-update's, else body steps named in the condition."""
        update = tuple(dict.fromkeys(s.var for s in self.steps if s.in_update))
        if update:
            return update
        return tuple(dict.fromkeys(s.var for s in self.steps if mentions(self.cond, s.var)))


class Function(NamedTuple):
    name: str
    span: Span
    body: Span
    static: bool
    inline: bool
    params_text: str  # the parameter list as written
    # Filled only for functions that hold a detailed loop:
    pointer_types: tuple[tuple[str, str], ...] = ()  # (var, "page*" / "page**" ...)
    values: tuple[tuple[str, str], ...] = ()  # (var, text) for `var = text` and initialisers
    calls: tuple[Call, ...] = ()
    # For functions that take a PFN (a `pfn` parameter), how they can say "invalid":
    returns_failure: bool = False  # a `return NULL;` / `return false;` path
    returns_calls: tuple[str, ...] = ()  # calls whose result is returned: `return f(pfn);`

    @property
    def params(self) -> tuple[tuple[str, str], ...]:
        """(name, type text) per parameter, parsed on demand."""
        params = []
        for param in split_args(self.params_text):
            names = IDENT.findall(param.split("[", 1)[0])
            name = names[-1] if len(names) > 1 else ""
            params.append((name, param[: param.rfind(name)].strip() if name else param))
        return tuple(params)


class Assignment(NamedTuple):
    """A value a function body gives a variable: `lhs = rhs` (in a statement, an
    initialiser or a for-initialiser; `+=` and `-=` too), or `&lhs` handed to a call
    or an iterator macro that fills it in (op "&", rhs the call as written)."""

    lhs: str  # an identifier or a member chain: "start_pfn", "args->pud_pfn"
    op: str  # "=", "+=", "-=", "&"; "clamp" for `if (x < y) x = y;`, which only narrows
    rhs: str  # whitespace-normalised
    line: int
    byte: int


class BodyFacts(NamedTuple):
    """What range provenance reads of one function body (kscan/facts/body_values.py):
    read from the bytes of the few functions a chain visits, never stored per body."""

    assignments: tuple[Assignment, ...]
    calls: tuple[Call, ...]  # every call, with its argument list
    member_calls: tuple[Call, ...]  # `x->op(args)`, `x.op(args)`: `name` is the member
    pointers: tuple[tuple[str, str], ...]  # (variable, struct it points to) of locals


class Registration(NamedTuple):
    """A function stored in a struct member, `.member = fn` in an initialiser or
    `x->member = fn;`, or handed to an attribute macro: how ops tables name callbacks."""

    member: str
    function: str
    line: int


class Define(NamedTuple):
    name: str
    params: tuple[str, ...] | None  # None for object-like macros
    value: str
    line: int


class NameUse(NamedTuple):
    """A use of a MAX_ORDER-family identifier, with the expression around it."""

    name: str
    line: int
    col: int
    byte: int
    function: str | None
    context: str  # the smallest enclosing statement/condition/initialiser text
    parent: str  # the parent expression's text
    parent_kind: str  # tree-sitter node type of the parent


class Offset(NamedTuple):
    """Arithmetic on a `struct page *`: `page + n`, `page - n`, `&page[n]`, `page[n]`,
    `page += n`, `page++` (op "+", "-", "[]", "+=", "-=", "++", "--"), anywhere in a
    function.  Recorded only for an analysis that asks (extract.Watch)."""

    base: str
    op: str
    offset: str  # "1" for ++ and --
    function: str
    line: int
    col: int
    byte: int


class ErrorDirective(NamedTuple):
    """`#error message` and the condition under which the preprocessor reaches it:
    the enclosing #if / #elif, `defined(X)` for #ifdef, negated for #else (conditions
    of nested blocks joined with &&).  Recorded only for an analysis that asks."""

    cond: str
    message: str
    line: int


@dataclass(slots=True)
class FileFacts:
    path: str  # as reported (relative to the tree root when there is one)
    lines: int = 0
    functions: list[Function] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    defines: list[Define] = field(default_factory=list)
    name_uses: list[NameUse] = field(default_factory=list)
    has_errors: bool = False  # tree-sitter recovered from ERROR/MISSING somewhere
    recovered_regions: int = 0  # runaway ERROR regions re-parsed chunk by chunk
    bodies_seen: int = 0  # column-0 `{` lines: kernel-style function bodies in the text
    not_utf8: bool = False
    # #if/#elif/#else branches: (conditional, branch number, start byte, end byte)
    branches: tuple[tuple[int, int, int, int], ...] = ()
    offsets: tuple[Offset, ...] = ()  # with extract.Watch only
    errors: tuple[ErrorDirective, ...] = ()  # with extract.Watch only
    # (first line, last line, condition) of each #if branch, its directives included,
    # the condition as ErrorDirective words it; with extract.Watch only
    conditions: tuple[tuple[int, int, str], ...] = ()
    guards: list[Guard] = field(default_factory=list)  # ifs and ?: in detailed loops
    # (byte, name) of each identifier in the guards' conditions, by byte
    guard_names: tuple[tuple[int, str], ...] = ()
    # what the queries below index, built on first use: each a look at every fact once
    _indexes: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __reduce__(self) -> tuple[Callable[..., FileFacts], tuple[Any, ...]]:
        return _file_facts, (
            self.path,
            self.lines,
            [_packed(fn) for fn in self.functions],
            self.loops,
            self.defines,
            self.name_uses,
            self.has_errors,
            self.recovered_regions,
            self.bodies_seen,
            self.not_utf8,
            self.branches,
            self.offsets,
            self.errors,
            self.conditions,
            self.guards,
            self.guard_names,
        )

    def exclusive(self, a: int, b: int) -> bool:
        """Bytes a and b sit in different branches of one #if: never compiled together."""
        where_a = dict(self._if_branches(a))
        return any(where_a.get(cond, number) != number for cond, number in self._if_branches(b))

    def _if_branches(self, byte: int) -> Iterator[tuple[int, int]]:
        """(conditional, branch number) of each #if branch holding byte, innermost first."""
        holders = self._index("branches", lambda: Holders([(b[2], b[3]) for b in self.branches]))
        for i in holders.holding(byte):
            yield self.branches[i][:2]

    # Queries by position: an analysis asking for each use or function would otherwise
    # look at every loop or use of the file each time (n x n for a file).  Loops and
    # name uses come in file order (the extractor's), functions and branches in any.

    def function_at(self, byte: int, part: Literal["span", "body"] = "span") -> Function | None:
        """The innermost function whose span (or "body") holds byte (runaway recoveries
        nest them)."""
        holders = self._index(
            f"function {part}", lambda: Holders([getattr(f, part).bytes for f in self.functions])
        )
        i = next(holders.holding(byte), None)
        return None if i is None else self.functions[i]

    def loops_in(self, span: Span) -> list[Loop]:
        """The loops that start in span (a function's), in file order."""
        starts = self._index("loop starts", lambda: [lp.span.start_byte for lp in self.loops])
        first, end = (bisect.bisect_left(starts, byte) for byte in span.bytes)
        return self.loops[first:end]

    def loops_holding(self, byte: int, part: Literal["head", "body"]) -> list[Loop]:
        """The loops whose "head" (from the keyword to the body) or "body" holds byte,
        outermost first, as they come in the file."""
        if part == "head":
            holders = self._index("heads", lambda: Holders([_head(lp) for lp in self.loops]))
        else:
            holders = self._index("bodies", lambda: Holders([lp.body.bytes for lp in self.loops]))
        return [self.loops[i] for i in sorted(holders.holding(byte))]

    def uses_in(self, span: Span) -> list[NameUse]:
        """The name uses in span (a function's), in file order."""
        at = self._index("use bytes", lambda: [u.byte for u in self.name_uses])
        first, end = (bisect.bisect_left(at, byte) for byte in span.bytes)
        return self.name_uses[first:end]

    def uses_on_lines(self, first: int, last: int) -> list[NameUse]:
        """The name uses on lines first to last."""
        at = self._index("use lines", lambda: [u.line for u in self.name_uses])
        return self.name_uses[bisect.bisect_left(at, first) : bisect.bisect_right(at, last)]

    def _index(self, name: str, build: Callable[[], Any]) -> Any:
        found = self._indexes.get(name)
        if found is None:
            found = self._indexes[name] = build()
        return found

    @property
    def unrecovered_bodies(self) -> int:
        """Function bodies in the text that no function fact covers (coverage check)."""
        return max(0, self.bodies_seen - len(self.functions))


def _head(loop: Loop) -> tuple[int, int]:
    return loop.span.start_byte, loop.body.start_byte


@dataclass(slots=True)
class FileCalls:
    """A file's part of the call graph: all that `kscan hotspots` and `graph` keep of
    the files they rank.  Each function and function-like macro, with the names it calls
    and the line of the first call to each, in flat columns rather than a record per
    call: a whole tree holds 2.8 million edges.  Made by kscan/callgraph/graph.py file_calls."""

    path: str
    names: tuple[str, ...] = ()  # the definitions: functions in file order, then macros
    kinds: str = ""  # a letter per definition: f function, s static function, m macro
    lines: array[int] = field(default_factory=lambda: array("I"))  # each definition's line
    ends: array[int] = field(default_factory=lambda: array("I"))  # where its callees end
    callees: tuple[str, ...] = ()  # the distinct names each definition calls, in turn
    sites: array[int] = field(default_factory=lambda: array("I"))  # the first call's line

    def __reduce__(self) -> tuple[Callable[..., FileCalls], tuple[Any, ...]]:
        return _file_calls, (
            self.path,
            self.names,
            self.kinds,
            self.lines,
            self.ends,
            self.callees,
            self.sites,
        )


def _file_calls(
    path: str,
    names: tuple[str, ...],
    kinds: str,
    lines: array[int],
    ends: array[int],
    callees: tuple[str, ...],
    sites: array[int],
) -> FileCalls:
    """Unpickled with its names interned: a whole tree's files name `kfree` and the
    other 800,000 nodes 3 million times, as that many strings without it (150 MB)."""
    names, callees = tuple(map(intern, names)), tuple(map(intern, callees))
    return FileCalls(path, names, kinds, lines, ends, callees, sites)


# -- pickling: functions and their calls as plain tuples --------------------------------


def _packed(fn: Function) -> tuple[Any, ...]:
    return (
        fn.name,
        tuple(fn.span),
        tuple(fn.body),
        fn.static,
        fn.inline,
        fn.params_text,
        fn.pointer_types,
        fn.values,
        tuple(map(tuple, fn.calls)),
        fn.returns_failure,
        fn.returns_calls,
    )


def _unpacked(row: tuple[Any, ...]) -> Function:
    name, span, body, static, inline, params, pointers, values, calls, failure, returns = row
    return tuple.__new__(
        Function,
        (
            name,
            tuple.__new__(Span, span),
            tuple.__new__(Span, body),
            static,
            inline,
            params,
            pointers,
            values,
            tuple(map(Call._make, calls)),
            failure,
            returns,
        ),
    )


def _file_facts(
    path: str,
    lines: int,
    functions: list[tuple[Any, ...]],
    loops: list[Loop],
    defines: list[Define],
    name_uses: list[NameUse],
    *flags: Any,
) -> FileFacts:
    return FileFacts(
        path, lines, list(map(_unpacked, functions)), loops, defines, name_uses, *flags
    )
