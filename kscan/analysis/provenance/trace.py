"""Trace the bounds of a walked range back to where they come from.

A walk's range is read from its loop (`WalkRange`): the walked variable's first value
and what the condition compares it with.  Each of those expressions is followed:
- an idiom of an origin class (origins.py) ends a route there;
- `min()`, `max()`, `clamp()` intersect ranges: the operand that promises most bounds
  the range (a memblock region clamped to a zone is still a memblock region);
- a local variable is followed through the values it gets before the use
  (for-initialisers, and `&var` handed to an iterator or a parser, included);
- a structure field the function does not set is followed to where its file sets it;
- a parameter is followed into every caller: the call graph, through aliasing macros,
  and through ops tables where the tree shows `.member = fn` and a call through
  `->member(...)`; up to MAX_DEPTH calls above the walk, MAX_CALLERS callers each;
- before any of that, calls made on the range before the walk (or before handing it
  on) decide it: a range validity check, a memmap initialiser, sections put on- or
  offline, a dev_pagemap lookup; and a walk that initialises every struct page it
  reaches is a memmap initialiser itself.
Every route keeps its chain of steps.  The model judges each route, and the worst
wins (kscan/model/origins.py).  Routes through a parameter are memoised per function,
so a helper shared by many walks is traced once; the bytes of a function are read
once (kscan/facts/body_values.py), only for the functions a chain visits.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol, TypeVar

from kscan.analysis.provenance.origins import (
    ALLOCATED,
    DEVICE_LOOKUP,
    MEMMAP_INIT,
    MEMORY_BLOCK,
    PAGE_INITIALISER,
    PAGE_RELEASE,
    RANGE_CHECKS,
    SECTION_STATE,
    UNKNOWN,
    USER_INPUT,
    USER_MEMBERS,
    VALIDATED,
    ZONE_DEVICE,
    closing,
    idioms_in,
    promise,
)
from kscan.callgraph.graph import CallGraph, display
from kscan.discover.treeinfo import TreeInfo
from kscan.facts.body_values import body_facts, registrations
from kscan.facts.records import (
    Assignment,
    BodyFacts,
    Call,
    FileFacts,
    Function,
    Loop,
    Registration,
    split_args,
)
from kscan.findings import Location, Provenance, Related, Route
from kscan.patterns import compiled
from kscan.vocab import identifiers


class Traced(Protocol):
    """What the tracer reads of a scan (kscan/analysis/project.py's Project, which
    holds the tracer: a Protocol, not an import, keeps the two apart)."""

    @property
    def files(self) -> list[FileFacts]: ...

    @property
    def tree(self) -> TreeInfo: ...

    @property
    def callgraph(self) -> CallGraph: ...

    @property
    def functions_by_name(self) -> dict[str, list[tuple[FileFacts, Function]]]: ...

    @property
    def validity_checks(self) -> frozenset[str]: ...


MAX_DEPTH = 4  # calls above the walking function
NO_CALLER = "no caller in the scanned files"
MAX_CALLERS = 12  # call sites followed per function
MAX_ROUTES = 24  # routes kept per walk, the worst first
_BUDGET = 3000  # expressions looked at per walk: a bound on time whatever the code
_PREPARERS = 64  # the calls before a walk asked whether they prepare its range
_ALL_SHARED = 2  # as many of a range's names as _preparation ever asks a call to share
_T = TypeVar("_T")
# (file, function's first byte, name): the names a route has visited, against cycles
Seen = frozenset[tuple[str, int, str]]
# (file, function's first byte, parameter index, depth, anchor): a parameter's routes
_ParameterKey = tuple[str, int, int, int, bool]


@dataclass(frozen=True, slots=True)
class WalkRange:
    """A walk as the tracer sees it: where it is, and what its range is made of."""

    facts: FileFacts
    function: Function
    loop: Loop
    walked: frozenset[str]  # the variables it steps through memmap with
    bounds: tuple[str, ...]  # the walked variable's first value, the bounds it meets


class Frame(NamedTuple):
    """A function on a chain, with what its body says."""

    facts: FileFacts
    function: Function
    body: BodyFacts
    types: dict[str, str]  # variable -> the structure it points to
    node: str  # its call-graph node
    params: tuple[str, ...]  # its parameters' names
    # The body's facts indexed once, so that a walk reads what concerns it, not the
    # whole body: n walks in one function cost n lookups, not n scans of its calls.
    preparers: tuple[Call, ...]  # calls that may say what a range is, in byte order
    preparer_bytes: tuple[int, ...]
    assigned: dict[str, tuple[Assignment, ...]]  # variable -> its assignments, in order
    calls_by_name: dict[str, tuple[Call, ...]]


class Tracer:
    """Range provenance over one project; `trace` one walk at a time."""

    def __init__(self, project: Traced) -> None:
        self.project = project
        self._frames: dict[tuple[str, int], Frame] = {}
        self._parameters: dict[_ParameterKey, list[Route]] = {}
        self._sources: dict[str, bytes] = {}
        self._initialisers: dict[str, str | None] = {}
        self._ops_tables: dict[str, dict[str, tuple[Registration, ...]]] = {}
        self._stores: dict[tuple[str, str], list[tuple[Frame, Assignment]]] = {}
        self._member_calls: dict[str, list[tuple[Frame, Call]]] = {}
        self._budget = 0

    def trace(self, walk: WalkRange) -> Provenance:
        self._budget = _BUDGET
        frame = self.frame(walk.facts, walk.function)
        loop = walk.loop
        head = _link(frame, loop.span.start_line, f"walks `{header(loop)}`")
        names = set(walk.walked).union(*map(identifiers, walk.bounds))
        routes = self._in_loop(frame, walk) or self._prepared(frame, names, loop.span.start_byte)
        if not routes:
            for bound in walk.bounds:
                routes += self._expression(frame, bound, loop.body.start_byte, 0, True, frozenset())
        if not routes:
            bounds = ", ".join(f"`{b}`" for b in walk.bounds) or "its bounds"
            routes = [Route(UNKNOWN, f"{bounds} in {walk.function.name}() not recognised", ())]
        return _provenance([_after(head, route) for route in self._released(frame, walk, routes)])

    def _released(self, frame: Frame, walk: WalkRange, routes: list[Route]) -> list[Route]:
        """A walk that hands every page back to the allocator holds those
        pages by the contract of a free, which binds the callers kscan cannot see: where
        the trace stops for want of a caller, that contract stands in.  A caller seen
        to hand it a span still breaks it; one whose value is not understood leaves it
        unknown (boot-time loops free what a span holds, not what they were given)."""
        unknown = [r for r in routes if r.origin == UNKNOWN and r.evidence.endswith(NO_CALLER)]
        release = self._loop_call(walk, PAGE_RELEASE.match) if unknown else None
        if release is None:
            return routes
        link = _link(frame, release.line, f"`{release.name}{release.args_text}` on every page")
        stops = "; ".join(route.evidence for route in unknown)
        evidence = f"{release.name}() hands every page back (where the trace stops: {stops})"
        kept = [route for route in routes if route not in unknown]
        return [*kept, Route(ALLOCATED, evidence, (link,))]

    def _loop_call(self, walk: WalkRange, wanted: Callable[[str], object]) -> Call | None:
        """The first call in the walk's body that `wanted` names and that is handed the
        walked pfn or the struct page made from it."""
        names = set(walk.walked) | {
            a.lhs for a in walk.loop.assigns if a.call in ("pfn_to_page", "pfn_folio")
        }
        for loop_call in walk.loop.calls:
            call = loop_call.call
            if wanted(call.name) and identifiers(call.args_text) & names:
                return call
        return None

    def frame(self, facts: FileFacts, function: Function) -> Frame:
        key = (facts.path, function.span.start_byte)
        found = self._frames.get(key)
        if found is None:
            body = self._body(facts, function)
            types = dict(body.pointers)
            params = function.params
            for name, kind in params:
                if struct := _struct_of(kind):
                    types[name] = struct
            node = self.project.callgraph.resolve(facts.path, function.name)
            names = tuple(name for name, _ in params)
            preparers = tuple(c for c in body.calls if self._may_prepare(c.name))
            found = self._frames[key] = Frame(
                facts,
                function,
                body,
                types,
                node,
                names,
                preparers,
                tuple(c.byte for c in preparers),
                _grouped(body.assignments, lambda a: a.lhs),
                _grouped(body.calls, lambda c: c.name),
            )
        return found

    # -- inside one function -------------------------------------------------------

    def _in_loop(self, frame: Frame, walk: WalkRange) -> list[Route]:
        """A walk that initialises each struct page it reaches, or looks each pfn up in
        its dev_pagemap: what it walks is decided by what it does."""
        call = self._loop_call(
            walk, lambda name: PAGE_INITIALISER.match(name) or name in DEVICE_LOOKUP
        )
        if call is None:
            return []
        origin = MEMMAP_INIT if PAGE_INITIALISER.match(call.name) else ZONE_DEVICE
        link = _link(frame, call.line, f"`{call.name}{call.args_text}` on every pfn")
        return [Route(origin, f"{call.name}()", (link,))]

    def _prepared(self, frame: Frame, names: set[str], before: int) -> list[Route]:
        """A call made on the range before `before` that says what it is; `names`: the
        range's variables, and the argument texts it is handed on with.  The nearest
        _PREPARERS such calls are asked, in their order: a bound whatever the body."""
        start = frame.function.body.start_byte
        end = bisect.bisect_left(frame.preparer_bytes, before)
        for call in frame.preparers[max(0, end - _PREPARERS) : end]:
            if call.byte <= start:
                continue
            shared = identifiers(call.args_text) & names
            if not shared:
                continue
            shared |= set(call.args) & names  # `64` handed on as it is checked
            origin, evidence = self._preparation(call.name, len(shared))
            if origin:
                link = _link(frame, call.line, f"`{call.name}{call.args_text}` before")
                return [Route(origin, evidence, (link,))]
        return []

    def _may_prepare(self, name: str) -> bool:
        """Whether a call of `name` can say what a range is: _preparation with every
        name it is handed shared."""
        return self._preparation(name, _ALL_SHARED)[0] is not None

    def _preparation(self, name: str, shared: int) -> tuple[str | None, str]:
        """What a call of `name` on the range says it is, `shared`: how many of the
        range's names it is handed (a validity check needs both ends)."""
        checks = self.project.validity_checks
        if name in RANGE_CHECKS or (name in checks and shared >= 2):
            return VALIDATED, f"{name}() checks the range"
        if SECTION_STATE.match(name):
            return MEMORY_BLOCK, f"{name}() changes the state of the range's sections"
        if name in DEVICE_LOOKUP:
            return ZONE_DEVICE, f"{name}()"
        how = self._initialiser(name)
        if how:
            return MEMMAP_INIT, f"{name}() initialises its struct pages ({how})"
        return None, ""

    def _initialiser(self, name: str) -> str | None:
        """`a -> b -> __init_single_page` when `name` initialises struct pages within
        two calls (move_pfn_range_to_zone -> memmap_init_range -> __init_single_page)."""
        if name not in self._initialisers:
            graph = self.project.callgraph
            found = None
            for node in graph.nodes_named(name):
                hit = next(
                    (
                        n
                        for n in sorted(graph.callees(node, 2))
                        if PAGE_INITIALISER.match(display(n))
                    ),
                    None,
                )
                if hit:
                    found = " -> ".join(display(n) for n in graph.chain(node, hit))
                    break
            self._initialisers[name] = found
        return self._initialisers[name]

    def _expression(
        self, frame: Frame, text: str, before: int, depth: int, anchor: bool, seen: Seen
    ) -> list[Route]:
        """Routes for what `text`, evaluated in `frame` before byte `before`, can be.
        `anchor`: the text is a position in memory (a pfn, an address), which must be
        accounted for; a count or a size only informs."""
        self._budget -= 1
        if self._budget < 0:
            return [Route(UNKNOWN, "too many values to follow", ())] if anchor else []
        operands = _intersected(text)
        if operands:
            return self._best(frame, operands, before, depth, anchor, seen)
        found = [f for f in idioms_in(text, frame.types) if anchor or f.origin != USER_INPUT]
        routes = [Route(f.origin, f.evidence, ()) for f in found]
        if any(f.position for f in found):
            return routes  # where it starts is known; the other terms are offsets in it
        rest = self._opaque_calls(_without(text, [f.evidence for f in found]))
        for name in _names(rest):
            routes += self._name(
                frame, name, before, depth, anchor and not _COUNT.match(name), seen
            )
        return routes

    def _opaque_calls(self, text: str) -> str:
        """text with each call that is no conversion replaced by what it is computed
        from: the argument a pfn helper is handed as its pfn (`find_large_buddy(start)`
        is a pfn near `start`); nothing for the others, whose result is their own."""
        for match in reversed(list(_CALL.finditer(text))):
            if _CONVERSIONS.fullmatch(match[1]):
                continue
            end = closing(text, match.end() - 1)
            args = split_args(text[match.end() - 1 : end + 1])
            kept = " ".join(args[i] for i in self._pfn_parameters(match[1]) if i < len(args))
            text = f"{text[: match.start()]} {kept} {text[end + 1 :]}"
        return text

    def _pfn_parameters(self, name: str) -> list[int]:
        """Where a function defined in the scanned files takes a pfn."""
        for _, function in self.project.functions_by_name.get(name, ()):
            return [i for i, (param, _) in enumerate(function.params) if "pfn" in param]
        return []

    def _best(
        self,
        frame: Frame,
        operands: list[str],
        before: int,
        depth: int,
        anchor: bool,
        seen: Seen,
    ) -> list[Route]:
        """An intersection: the operand whose worst route promises most bounds it."""
        best: list[Route] = []
        for operand in operands:
            routes = self._expression(frame, operand, before, depth, anchor, seen)
            if routes and (not best or _worst(routes) < _worst(best)):
                best = routes
        return best

    def _name(
        self, frame: Frame, name: str, before: int, depth: int, anchor: bool, seen: Seen
    ) -> list[Route]:
        key = (frame.facts.path, frame.function.span.start_byte, name)
        if key in seen:
            return []
        seen = seen | {key}
        if "->" in name or "." in name:
            return self._field(frame, name, depth, anchor, seen)
        index = frame.params.index(name) if name in frame.params else None
        assigned = frame.assigned.get(name, ())
        values = _values(assigned, name, frame.function.body.start_byte, before, index is None)
        if values:
            routes: list[Route] = []
            for value in values:
                link = _link(frame, value.line, _assignment_text(value))
                found = self._expression(frame, value.rhs, value.byte, depth, anchor, seen)
                if not found and anchor:
                    stop = f"`{value.rhs}` in {frame.function.name}() not recognised"
                    found = [Route(UNKNOWN, stop, ())]
                routes += [_after(link, route) for route in found]
            return routes
        if index is not None:
            return self.parameter(frame, index, depth, anchor)
        return []

    def _field(self, frame: Frame, chain: str, depth: int, anchor: bool, seen: Seen) -> list[Route]:
        """`args->pud_pfn`: what the file stores in that field, wherever it does."""
        field = _MEMBER_ACCESS.split(chain)[-1]
        routes: list[Route] = []
        for other, value in self._field_stores(frame.facts, field):
            link = _link(other, value.line, f"{_assignment_text(value)} in {other.function.name}()")
            for route in self._expression(other, value.rhs, value.byte, depth, anchor, seen):
                routes.append(_after(link, route))
        if not routes and anchor:
            routes.append(Route(UNKNOWN, f"`{chain}`: a field this file does not set", ()))
        return routes

    def _field_stores(self, facts: FileFacts, field: str) -> list[tuple[Frame, Assignment]]:
        """(frame, assignment) for each function of the file that sets `field`: the file
        is read once per field, however many walks ask."""
        key = (facts.path, field)
        found = self._stores.get(key)
        if found is None:
            found = self._stores[key] = []
            stores = re.compile(rb"(?:->|\.)\s*" + re.escape(field.encode()) + rb"\s*=(?!=)")
            ends_with = re.compile(rf"(?:->|\.){re.escape(field)}$")
            for other in self._frames_holding(facts, stores):
                found += [
                    (other, value)
                    for value in other.body.assignments
                    if value.op == "=" and ends_with.search(value.lhs)
                ]
        return found

    def _frames_holding(self, facts: FileFacts, pattern: re.Pattern[bytes]) -> Iterator[Frame]:
        """The functions of a file whose bodies hold a match of `pattern`, once each."""
        done: set[int] = set()
        for match in pattern.finditer(self._source(facts)):
            function = facts.function_at(match.start(), "body")
            if function is not None and function.span.start_byte not in done:
                done.add(function.span.start_byte)
                yield self.frame(facts, function)

    # -- into callers ----------------------------------------------------------------

    def parameter(self, frame: Frame, index: int, depth: int, anchor: bool) -> list[Route]:
        """Routes for the value callers pass as parameter `index` of frame's function."""
        name = frame.params[index]
        where = f"`{name}` of {frame.function.name}()"
        if depth >= MAX_DEPTH:
            stop = f"{where}: callers more than {MAX_DEPTH} calls above the walk are not traced"
            return [Route(UNKNOWN, stop, ())] if anchor else []
        key = (frame.facts.path, frame.function.span.start_byte, index, depth, anchor)
        if key in self._parameters:
            return self._parameters[key]
        self._parameters[key] = []  # recursion: the inner visit adds nothing
        sites = self._call_sites(frame)
        if sites:
            routes = self._from_sites(frame, index, sites, depth, anchor, ())
        else:
            registered = self._registered(frame, index, depth, anchor)
            if registered is None:
                stop = f"{where}: {NO_CALLER}"
                registered = [Route(UNKNOWN, stop, ())] if anchor else []
            routes = registered
        self._parameters[key] = routes
        return routes

    def _from_sites(
        self,
        frame: Frame,
        index: int,
        sites: list[tuple[Frame, Call]],
        depth: int,
        anchor: bool,
        before_links: tuple[Related, ...],
    ) -> list[Route]:
        callee, name = frame.function.name, frame.params[index]
        routes: list[Route] = []
        for caller, call in sites[:MAX_CALLERS]:
            args = call.args
            if index >= len(args):
                continue  # a variadic macro's, or a call the parser cut short
            arg = args[index]
            what = f"{caller.function.name}() calls {callee}() with `{name}` = `{arg}`"
            link = _link(caller, call.line, what)
            passed = set(args).union(*map(identifiers, args))
            found = self._prepared(caller, passed, call.byte) or self._expression(
                caller, arg, call.byte, depth + 1, anchor, frozenset()
            )
            if not found and anchor and not _LITERAL.fullmatch(arg):
                found = [Route(UNKNOWN, f"`{arg}` in {caller.function.name}() not recognised", ())]
            routes += [_after(link, route) for route in found]
        if len(sites) > MAX_CALLERS:
            stop = f"{callee}() has {len(sites)} callers; the first {MAX_CALLERS} are traced"
            routes.append(Route(UNKNOWN, stop, ()))
        return [_before(before_links, route) for route in routes]

    def _call_sites(self, frame: Frame) -> list[tuple[Frame, Call]]:
        """(caller, call) for each direct call, and calls through a macro or
        an alias that passes its arguments on unchanged (`alloc_contig_range` ->
        `alloc_contig_range_noprof`)."""
        graph = self.project.callgraph
        sites: list[tuple[Frame, Call]] = []
        for caller in sorted(graph.callers(frame.node, 1)):
            if graph.kind(caller) == "function":
                sites += self._calls_from(caller, frame.node)
            elif self._passes_arguments(caller, frame.node):
                for above in sorted(graph.callers(caller, 1)):
                    if graph.kind(above) == "function":
                        sites += self._calls_from(above, caller)
        return sorted(sites, key=lambda s: (s[0].facts.path, s[1].line))

    def _calls_from(self, caller: str, callee: str) -> Iterator[tuple[Frame, Call]]:
        graph = self.project.callgraph
        for frame in self._frames_of(caller):
            for call in frame.calls_by_name.get(display(callee), ()):
                if graph.resolve(frame.facts.path, call.name) == callee:
                    yield frame, call

    def _passes_arguments(self, macro: str, target: str) -> bool:
        graph = self.project.callgraph
        if graph.kind(macro) == "external":  # the foo -> foo_noprof convention
            return display(target) == display(macro) + "_noprof"
        passing = re.compile(rf"\b{re.escape(display(target))}\s*\(\s*__VA_ARGS__\s*\)")
        return any(
            define.name == display(macro) and passing.search(define.value)
            for facts in self.project.files
            if facts.path in graph.files(macro)
            for define in facts.defines
        )

    def _frames_of(self, node: str) -> list[Frame]:
        graph = self.project.callgraph
        return [
            self.frame(facts, function)
            for facts, function in self.project.functions_by_name.get(display(node), ())
            if graph.resolve(facts.path, function.name) == node
        ]

    def _registered(self, frame: Frame, index: int, depth: int, anchor: bool) -> list[Route] | None:
        """A function nothing calls by name: the ops tables that hold it, and the calls
        through their member.  None when the tree shows no registration."""
        name = frame.function.name
        found = self._registrations(frame)
        if not found:
            return None
        routes: list[Route] = []
        for facts, registration in found:
            member = registration.member
            link = Related(
                Location(facts.path, registration.line, 1, None),
                f"{name}() is registered as .{member}",
            )
            if member in USER_MEMBERS:
                if anchor:  # a user's count says how far, not where: the start decides
                    evidence = f"{name}() handles .{member}: user space passes its arguments"
                    routes.append(Route(USER_INPUT, evidence, (link,)))
                continue
            sites = self._member_call_sites(member)
            if sites:
                routes += self._from_sites(frame, index, sites, depth, anchor, (link,))
            elif anchor:
                stop = f"{name}() is called through .{member}; no such call in the scanned files"
                routes.append(Route(UNKNOWN, stop, (link,)))
        return routes

    def _registrations(self, frame: Frame) -> list[tuple[FileFacts, Registration]]:
        """Where the function's own file stores it: a static one can be stored nowhere
        else, and reading every file for each exported function no file calls would
        cost more than what is found (an ops table elsewhere is not seen)."""
        path = frame.facts.path
        stored = self._ops_tables.get(path)
        if stored is None:  # the file's ops tables, read once for all its functions
            found = registrations(self._source(frame.facts))
            stored = self._ops_tables[path] = _grouped(tuple(found), lambda r: r.function)
        return [(frame.facts, r) for r in stored.get(frame.function.name, ())]

    def _member_call_sites(self, member: str) -> list[tuple[Frame, Call]]:
        """The calls through `member` in every file: read once per member, as every
        function stored there asks."""
        found = self._member_calls.get(member)
        if found is None:
            found = self._member_calls[member] = []
            calls = re.compile(rb"(?:->|\.)\s*" + re.escape(member.encode()) + rb"\s*\(")
            for facts in self.project.files:
                if self._source(facts).find(member.encode()) < 0:
                    continue
                for caller in self._frames_holding(facts, calls):
                    found += [(caller, c) for c in caller.body.member_calls if c.name == member]
        return found

    # -- bytes ---------------------------------------------------------------------

    def _source(self, facts: FileFacts) -> bytes:
        src = self._sources.get(facts.path)
        if src is None:
            root = self.project.tree.root
            path = Path(root) / facts.path if root else Path(facts.path)
            try:
                src = path.read_bytes()
            except OSError:
                src = b""
            if src.count(b"\n") + 1 != facts.lines:
                src = b""  # changed since its facts were taken: trust neither
            self._sources[facts.path] = src
        return src

    def _body(self, facts: FileFacts, function: Function) -> BodyFacts:
        src = self._source(facts)
        body = function.body
        if not src or body == function.span:
            return BodyFacts((), (), (), ())
        return body_facts(src, body.start_byte, body.end_byte, body.start_line)


# -- expressions ------------------------------------------------------------------------

_MEMBER_ACCESS = re.compile(r"->|\.")
_STRUCT_POINTER = re.compile(r"\bstruct\s+(\w+)\s*\*|\b(\w+_t)\s*\*")
_INTERSECTIONS = re.compile(
    r"\s*(min|max|min_t|max_t|clamp|clamp_t|clamp_val|umin|umax|min3|max3)\s*(\(.*\))\s*", re.S
)
# identifiers and member chains, not the callee of a call
_NAME = re.compile(r"(?<![\w.>$])([A-Za-z_]\w*+(?:\s*(?:->|\.)\s*[A-Za-z_]\w*+)*+)(?!\s*\()")
_NOT_VALUES = frozenset(
    {
        "sizeof",
        "unsigned",
        "signed",
        "long",
        "int",
        "short",
        "char",
        "bool",
        "void",
        "const",
        "volatile",
        "struct",
        "union",
        "enum",
        "true",
        "false",
        "NULL",
        "typeof",
        "__typeof__",
        "u8",
        "u16",
        "u32",
        "u64",
        "s8",
        "s16",
        "s32",
        "s64",
        "size_t",
        "phys_addr_t",
        "resource_size_t",
        "pgoff_t",
    }
)
_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*")
# counts and sizes: they say how far, not where
_COUNT = re.compile(
    r"(?:nr|n|i|j|k|count|size|len|length|npages|pages|order|idx|index|off|offset"
    r"|nr_\w+|\w+_(?:size|count|len|nr|pages|order|idx))$"
)


def _intersected(text: str) -> list[str]:
    """The operands of a top-level min()/max()/clamp() (typed forms less the type)."""
    match = _INTERSECTIONS.fullmatch(text)
    if match is None or not _encloses(match[2]):
        return []
    operands = list(split_args(match[2]))
    return (
        operands[1:] if match[1].endswith(("_t", "_val")) and match[1] != "clamp_val" else operands
    )


def _encloses(text: str) -> bool:
    """`(...)` is one parenthesised group, not `(a) + (b)`."""
    return text.startswith("(") and closing(text, 0) == len(text) - 1


def _without(text: str, evidences: list[str]) -> str:
    for evidence in evidences:
        text = text.replace(evidence, " ")
    return text


# Calls whose result is their argument converted or rounded: a pfn from a physical
# address, an aligned pfn.  Any other call's result is its own value, not its arguments'.
_CONVERSIONS = re.compile(
    r"[A-Z][A-Z0-9_]*|round_up|round_down|roundup|rounddown|__phys_to_pfn|__pfn_to_phys"
    r"|min|max|min_t|max_t|clamp|clamp_t|umin|umax"  # inside an expression: all of them
    r"|pfn_to_page|__pfn_to_page|pfn_folio|nth_page|page_folio|phys_to_page|__va"
)
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


def _names(text: str) -> list[str]:
    """The variables and member chains a value is made of.  An array's element is not
    the array (`mem->slots[i].orig_addr` is no value of `mem->slots`): a field of one
    is looked for by the field (`[].orig_addr`), a bare element not at all."""
    found, pos = [], 0
    while match := _NAME.search(text, pos):
        name, pos = "".join(match[1].split()), match.end()
        if element := _ELEMENT_FIELD.match(text, pos):
            name, pos = (f"[].{element[1]}" if element[1] else ""), element.end()
        if name and name not in _NOT_VALUES and not _CONSTANT.fullmatch(name):
            found.append(name)
    return list(dict.fromkeys(found))


# `[...]` after a name, and the field read from the element, if any
_ELEMENT_FIELD = re.compile(r"\s*\[[^\]]*\](?:\s*(?:->|\.)\s*([A-Za-z_]\w*))?")


def _values(
    assigned: tuple[Assignment, ...], name: str, start: int, before: int, local: bool
) -> list[Assignment]:
    """The values `name` gets before `before`, of its assignments `assigned`.  A step
    (`pfn += n`) or a value built from its own old one (`end = min(end, x)`: narrower,
    never wider) is no origin; nor is `&name` handed to a logging call (`%pa`), or a
    parameter's address handed on."""
    own = compiled(rf"(?<![\w>.]){re.escape(name)}\b")
    return [
        a
        for a in assigned[: bisect.bisect_left(assigned, before, key=lambda a: a.byte)]
        if start < a.byte
        and (
            (a.op == "&" and local and not _LOGGING.match(a.rhs))
            or (a.op == "=" and not own.search(a.rhs) and not _LITERAL.fullmatch(a.rhs))
        )
    ]


# `pfn = -1`, `end = 0`, `p = NULL`, `nid = NUMA_NO_NODE`: a sentinel a later value
# replaces, or a constant handed on: no origin
_LITERAL = re.compile(r"\(?\s*(?:-?\s*~?\s*(?:0x[0-9a-fA-F]+|\d+)[uUlL]*|[A-Z][A-Z0-9_]*)\s*\)?")


_LOGGING = re.compile(r"\w*(?:print|pr_|dbg|debug|warn|WARN|trace|dump|dev_err|dev_info)")


def _worst(routes: list[Route]) -> int:
    return max(promise(route.origin) for route in routes)


def _assignment_text(value: Assignment) -> str:
    if value.op == "&":
        return f"`{value.lhs}` is filled in by `{value.rhs}`"
    return f"`{value.lhs} {value.op} {value.rhs}`"


def _struct_of(kind: str) -> str | None:
    match = _STRUCT_POINTER.search(kind)
    return (match[1] or match[2]) if match else None


def header(loop: Loop) -> str:
    """A loop's head as it reads: `for (pfn = start; pfn < end; ...)`."""
    if loop.kind == "for":
        return f"for ({loop.init}; {loop.cond}; ...)"
    cond = loop.cond[1:-1] if loop.cond.startswith("(") and _encloses(loop.cond) else loop.cond
    return f"{loop.kind} ({cond})"


def _link(frame: Frame, line: int, message: str) -> Related:
    return Related(Location(frame.facts.path, line, 1, frame.function.name), message)


def _after(link: Related, route: Route) -> Route:
    return Route(route.origin, route.evidence, (link, *route.chain))


def _before(links: tuple[Related, ...], route: Route) -> Route:
    return Route(route.origin, route.evidence, (*links, *route.chain)) if links else route


def _provenance(routes: list[Route]) -> Provenance:
    unique = list(dict.fromkeys(routes))
    unique.sort(key=lambda route: -promise(route.origin))  # stable: the worst first
    return Provenance(tuple(unique[:MAX_ROUTES]), max(0, len(unique) - MAX_ROUTES))


def _grouped(items: tuple[_T, ...], key: Callable[[_T], str]) -> dict[str, tuple[_T, ...]]:
    """items grouped by key, each group in the items' order."""
    groups: dict[str, list[_T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return {k: tuple(group) for k, group in groups.items()}
