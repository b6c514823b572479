"""Walk analysis shared by the pfn-walk rules: which loops touch memmap PFN by PFN,
whether a validity check dominates the access, and how far the walk can reach.

Dominance is structural, over loop facts: a check dominates an access when it sits in
an enclosing `if` (or an earlier `&&` conjunct), in a guarded `continue`/`break`/
`return`/`goto` earlier in the body, or in the loop condition.  A check guarded by
an alignment test (`IS_ALIGNED(pfn, X) && !pfn_valid(pfn)`) only covers block heads.

Cost: one pass over a file's loops, and bisects over its facts sorted by byte, so a
nest n deep or n walks in a file cost n log n at most (bench/growth.py); checks through
a variable that holds a check's result take one more pass (kscan/analysis/held_checks.py).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, partial

from kscan.analysis.held_checks import HeldChecks
from kscan.analysis.nesting import LEAVING, part_before
from kscan.analysis.project import Bindings, Project
from kscan.analysis.provenance import WalkRange
from kscan.analysis.provenance.origins import BLOCK, closing
from kscan.analysis.provenance.trace import header
from kscan.analysis.rule import Rule
from kscan.discover.prefilter import Needs, needs
from kscan.facts.records import Call, Exit, FileFacts, Function, Loop, LoopCall, split_args
from kscan.findings import Location, Provenance, Related, Route
from kscan.vocab import (
    ALIGNED_TEST,
    BLOCK_GRANULARITY,
    BLOCK_WORDS,
    MEMMAP_ACCESSORS,
    SPAN_WORDS,
    VALID_RANGE_ITERATORS,
    VALIDITY_CHECKS,
    block_granularity,
    identifiers,
)

# A walk needs a memmap accessor in its file; validity helpers (see
# Project.validity_checks) inform it from wherever they are defined.
PFN_WALK_NEEDS = (needs(MEMMAP_ACCESSORS), needs(VALIDITY_CHECKS, [b"pfn"]))


class PfnWalkRule(Rule):
    """The pfn-walk family: what files it needs, and the validity helpers it follows."""

    family = "pfn-walk"
    needs = PFN_WALK_NEEDS

    def follow(self, project: Project) -> Needs | None:
        """Files that may define helpers of the helpers found so far (or of configured
        checks): only helpers other files can call, i.e. not static in a .c file."""
        found = {
            name
            for name in project.validity_checks - VALIDITY_CHECKS
            if project.callable_elsewhere(name)
        }
        # every helper takes a PFN: one scan for "pfn" first, names only where it is
        return needs([b"pfn"], sorted(found)) if found else None


UNIT_STEPS = {("++", "1"), ("--", "1"), ("+=", "1"), ("-=", "1")}
# Extents that stay inside one block from a validated head (findings.Walk.extent).
UNITS = ("block", "pageblock", "section")
_CALLER_DEPTH = 3


@dataclass(frozen=True, slots=True)
class Check:
    """Where a hoisted validity check lives."""

    kind: str  # "aligned" | "outer-loop" | "before-loop" | "caller"
    path: str
    line: int
    function: str | None
    granularity: str | None  # "block" | "pageblock" | "section" when known


@dataclass(frozen=True, slots=True)
class PfnWalk:
    """A loop that converts every PFN it visits into a struct page, unchecked."""

    facts: FileFacts
    loop: Loop
    function: Function | None
    access: LoopCall
    extent: str  # from the bounds (see findings.Walk.extent), whatever the check
    check: Check | None  # the hoisted check the walk relies on, if any

    @property
    def block_confined(self) -> bool:
        """The walk relies on one block-level check (KS002), not on none at all (KS001)."""
        hoisted = self.check is not None and self.check.kind != "before-loop"
        return hoisted or self.extent in UNITS


def provenance(project: Project, walk: PfnWalk) -> Provenance | None:
    """Where the walked range comes from (kscan/analysis/provenance/)."""
    if walk.function is None:
        return None
    return project.tracer.trace(
        walk_range(walk.facts, walk.function, walk.loop, walk.access.call.args[0])
    )


def block_provenance(walk: PfnWalk, how: str) -> Provenance:
    """A block-confined walk's range is the block its check validated: one route."""
    where = Location(walk.facts.path, walk.loop.span.start_line, 1, walk.loop.function)
    chain = [Related(where, f"walks `{header(walk.loop)}`")]
    if walk.check is not None:
        chain.append(walk_check_note(walk.check, "the block-level check"))
    return Provenance((Route(BLOCK, how, tuple(chain)),))


def walk_range(facts: FileFacts, function: Function, loop: Loop, position: str) -> WalkRange:
    """The range a loop walks with `position` (`pfn`, `start_pfn + i`, `page`): a
    variable the loop steps is followed from its first value to the bounds the
    condition sets it; an expression of one is traced as it is."""
    stepped = unit_step_vars(loop)
    if position not in stepped:
        return WalkRange(
            facts, function, loop, frozenset(placing_identifiers(position) & stepped), (position,)
        )
    first = _initial_values(loop.init).get(position, position)
    return WalkRange(
        facts, function, loop, frozenset({position}), (first, *_bounds_of(loop.cond, position))
    )


_DECLARED = re.compile(r"(?:[\w\s*]*[\s*])?([A-Za-z_]\w*)\s*=\s*(.+)", re.S)
_CONJUNCTS = re.compile(r"&&|\|\||,")
_COMPARISON = re.compile(r"(?<![<>-])(<=|>=|!=|==|<|>)(?![<>=])")


def _initial_values(init: str) -> dict[str, str]:
    """`pfn = start, i = 0` -> {"pfn": "start", "i": "0"}."""
    values: dict[str, str] = {}
    for piece in split_args(f"({init})"):
        match = _DECLARED.fullmatch(piece)
        if match:
            values.setdefault(match[1], match[2].strip())
    return values


def _bounds_of(cond: str, var: str) -> list[str]:
    """What the condition compares `var` with: `pfn < end_pfn && ...` -> ["end_pfn"]."""
    bounds = []
    for piece in _CONJUNCTS.split(cond):
        parts = _COMPARISON.split(_unwrapped(piece))
        if len(parts) != 3:
            continue
        left, _, right = map(_unwrapped, parts)
        if var in identifiers(left) and var not in identifiers(right):
            bounds.append(right)
        elif var in identifiers(right) and var not in identifiers(left):
            bounds.append(left)
    return bounds


def _unwrapped(text: str) -> str:
    """`(a < b)` -> `a < b`; `f(x)` and `(a) + (b)` stay as they are."""
    text = text.strip()
    while text.startswith("(") and closing(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def walk_check_note(check: Check, message: str) -> Related:
    where = f" (in {check.function}())" if check.kind == "caller" and check.function else ""
    return Related(Location(check.path, check.line, 1, check.function), message + where)


def unit_step_vars(loop: Loop) -> set[str]:
    return {s.var for s in loop.steps if (s.op, s.amount) in UNIT_STEPS}


_BRACKETS = re.compile(r"([\[\]])")


def placing_identifiers(position: str) -> set[str]:
    """The identifiers of a PFN expression outside subscripts: those that move it.
    `start_pfn + i` moves with i; `pfns[i]` is an element of an array of PFNs, each
    one a PFN someone already had a page for (page_to_pfn() of a pinned page), not
    a step into a range that may hold a hole, wherever i goes."""
    depth = 0
    outside = []
    for piece in _BRACKETS.split(position):
        if piece == "[":
            depth += 1
        elif piece == "]":
            depth = max(depth - 1, 0)
        elif depth == 0:
            outside.append(piece)
    return identifiers(" ".join(outside))


def pfn_walks(project: Project) -> list[PfnWalk]:
    """The project's PFN walks, found once for the rules of the family."""
    return project.derived("pfn_walks", partial(_pfn_walks, project))


def _pfn_walks(project: Project) -> list[PfnWalk]:
    checks = _Checks(project)
    return [
        walk
        for facts in project.files
        if any(loop.detailed for loop in facts.loops)
        for walk in _FileWalks(project, facts, checks).walks()
    ]


class _Checks:
    """The validity checks of one run, and what each function calls of them."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.names = project.validity_checks
        self._calls: dict[int, tuple[list[int], list[Call]]] = {}  # id(function) -> ...
        self._finest: dict[int, list[str | None]] = {}  # id(function) -> see finest_before
        self._callers: dict[tuple[int, int], Check | None] = {}

    def calls(self, function: Function) -> tuple[list[int], list[Call]]:
        """The checks function calls, and their bytes, in file order."""
        found = self._calls.get(id(function))
        if found is None:
            calls = [c for c in function.calls if c.name in self.names]
            found = self._calls[id(function)] = ([c.byte for c in calls], calls)
        return found

    def before(self, function: Function, byte: int) -> Call | None:
        """The last check function calls before byte."""
        bytes_, calls = self.calls(function)
        i = bisect.bisect_left(bytes_, byte)
        return calls[i - 1] if i else None

    def finest_before(self, function: Function, byte: int) -> str | None:
        """The finest unit the checks function makes before byte are made per, from their
        arguments: `__first_valid_page(pfn, pageblock_nr_pages)` checks each pageblock."""
        bytes_, calls = self.calls(function)
        finest = self._finest.get(id(function))
        if finest is None:  # for the first i checks, for each i: not asked again per call
            found: set[str | None] = set()
            finest = self._finest[id(function)] = []
            for call in calls:
                found.add(block_granularity(" ".join(call.args)))
                finest.append(
                    next((u for u in ("pageblock", "block", "section") if u in found), None)
                )
        i = bisect.bisect_left(bytes_, byte)
        return finest[i - 1] if i else None

    def caller_check(
        self, facts: FileFacts, function: Function | None, depth: int = _CALLER_DEPTH
    ) -> Check | None:
        """Every caller validates before calling (directly, or through its own callers).
        Asked once per function and depth: a function with many walks, or called from
        many walkers' callers, is not asked again."""
        if function is None or not function.static or depth == 0:
            return None
        key = (id(function), depth)
        if key not in self._callers:
            self._callers[key] = self._caller_check(facts, function, depth)
        return self._callers[key]

    def _caller_check(self, facts: FileFacts, function: Function, depth: int) -> Check | None:
        sites = self.project.calls_within(facts).get(function.name, ())
        if not sites:
            return None
        first = None
        for caller, call in sites:  # a static function's callers live in its own file
            if self.before(caller, call.byte) is not None:
                granularity = block_granularity(" ".join(call.args)) or self.finest_before(
                    caller, call.byte
                )
                first = first or Check("caller", facts.path, call.line, caller.name, granularity)
            elif self.caller_check(facts, caller, depth - 1) is None:
                return None
            else:
                first = first or Check("caller", facts.path, call.line, caller.name, None)
        return first


class _FileWalks:
    """The walks of one file.

    One pass over its loops in file order (a parent before its children) keeps the
    loops around the current one on a stack, and for each variable the loops that step
    it: the access pfn_to_page(pfn) belongs to the innermost loop stepping pfn, the
    checks of the loops around a loop are on the stack, and an iterator macro that
    yields valid ranges is counted in while it is open.  Every question about a loop's
    body is a bisect over the file's facts sorted by byte (kscan/analysis/nesting.py).
    """

    def __init__(self, project: Project, facts: FileFacts, checks: _Checks) -> None:
        self.project = project
        self.facts = facts
        self.checks = checks
        self.nest = nest = project.nest(facts)
        names = checks.names
        self.check_calls = [lc.call.byte for lc in nest.calls if lc.call.name in names]
        # the nearest guard around each one (or itself) whose condition calls a check
        self.checked_guard: list[int] = []
        for i, guard in enumerate(facts.guards):  # a parent comes before its children
            if self._check_call_in(*guard.cond):
                self.checked_guard.append(i)
            else:
                self.checked_guard.append(
                    self.checked_guard[guard.parent] if guard.parent >= 0 else -1
                )
        checking = [e for e in nest.leaving if set(e.cond_calls) & names]
        self.leaving_checks = [e.byte for e in checking]
        self.plain_leaving = [e for e in checking if not ALIGNED_TEST.search(e.cond)]
        self.aligned_leaving = [e for e in checking if ALIGNED_TEST.search(e.cond)]
        self.steppers = [unit_step_vars(loop) for loop in facts.loops]
        self.outer_checks: dict[int, Check] = {}
        self.inside_valid: set[int] = set()

    def walks(self) -> Iterator[PfnWalk]:
        owned = self._survey()
        names = self.checks.names
        for i, loop in enumerate(self.facts.loops):
            if not loop.detailed or loop.kind == "macro" or i not in owned:
                continue
            if not self.steppers[i] or set(loop.cond_calls) & names or i in self.inside_valid:
                continue
            accesses = sorted(owned[i], key=lambda lc: lc.call.byte)
            exit_ = min((e.byte for e in self._checking_exits(loop, plain=True)), default=math.inf)
            access = next((lc for lc in accesses if not self._dominated(i, lc, exit_)), None)
            if access is not None:
                yield self._classify(i, loop, access)

    # -- one pass over the loops ------------------------------------------------------

    def _survey(self) -> dict[int, list[LoopCall]]:
        """Loop index -> the accesses it walks; fills outer_checks and inside_valid."""
        loops = self.facts.loops
        owned: dict[int, list[LoopCall]] = {}
        stack: list[int] = []  # the loops around the next one
        stepping: dict[str, list[int]] = {}  # variable -> the open loops stepping it
        outer = _Outer()  # the open loops' checks
        iterators = _ValidIterators()
        for i, loop in enumerate(loops):
            while stack and stack[-1] != loop.parent:
                j = stack.pop()
                for var in self.steppers[j]:
                    stepping[var].pop()
                outer.close()
                iterators.close(loops[j])
            if iterators.around(loop):
                self.inside_valid.add(i)
            found = outer.first_before(loop.span.start_byte)
            if found is not None:
                self.outer_checks[i] = self._outer_check(loops[stack[found]], loop)
            stack.append(i)
            for var in self.steppers[i]:
                stepping.setdefault(var, []).append(i)
            outer.open(self._validates_from(loop))
            iterators.open(loop)
            for lc in loop.calls:
                owner = _owner(lc, stepping)
                if owner is not None:
                    owned.setdefault(owner, []).append(lc)
        return owned

    def _validates_from(self, loop: Loop) -> float:
        """Where the loop validates the PFN for what follows in its body: its condition
        (-inf), a check call or a guarded exit that calls one; inf when it never does."""
        if not loop.detailed:
            return math.inf
        names = self.checks.names
        if set(loop.cond_calls) & names:
            return -math.inf
        start, end = loop.body.start_byte, loop.body.end_byte
        own = (e.byte for e in loop.exits if e.kind not in LEAVING and set(e.cond_calls) & names)
        return min(
            min(own, default=math.inf),
            _first_in(self.leaving_checks, start, end),
            _first_in(self.check_calls, start, end),
        )

    def _outer_check(self, outer: Loop, loop: Loop) -> Check:
        granularity = block_granularity(_loop_text(outer)) or block_granularity(_loop_text(loop))
        return Check(
            "outer-loop", self.facts.path, outer.span.start_line, outer.function, granularity
        )

    # -- dominance ----------------------------------------------------------------------

    def _dominated(self, i: int, access: LoopCall, checking_exit: float) -> bool:
        """A check dominates the access walked by loop i: in a guard around it, in a
        guarded exit before it (`checking_exit`: the loop's first exit guarded by a check
        of every PFN), or through a variable that holds a check's result and a guard or
        an exit tests (kscan/analysis/held_checks.py)."""
        byte, start = access.call.byte, self.facts.loops[i].body.start_byte
        if checking_exit < byte or self._guarded(access.guard, start, byte):
            return True
        return self._held.checked(i, access)

    @cached_property
    def _held(self) -> HeldChecks:
        return HeldChecks(self.facts, self.nest, self.checks.names)

    def _guarded(self, guard: int, start: int, byte: int) -> bool:
        """A guard in the loop body holds a check where byte runs.  Only guards whose
        condition calls a check are visited: an else-if chain of a thousand costs one
        step, not a thousand."""
        guard = self.checked_guard[guard] if guard >= 0 else -1
        guards = self.facts.guards
        while guard >= 0 and guards[guard].cond[0] >= start:
            part = part_before(guards[guard], byte)
            if part is not None and self._check_call_in(*part):
                return True
            parent = guards[guard].parent
            guard = self.checked_guard[parent] if parent >= 0 else -1
        return False

    def _check_call_in(self, start: int, end: int) -> bool:
        return _first_in(self.check_calls, start, end) < math.inf

    def _checking_exits(self, loop: Loop, plain: bool) -> Iterator[Exit]:
        """The loop's exits guarded by a check call, in no order: its own continues
        and breaks, and the returns and gotos in its body.  `plain`: those that check
        every PFN, else those that check block-aligned PFNs only."""
        names = self.checks.names
        for e in loop.exits:
            checking = e.kind not in LEAVING and set(e.cond_calls) & names
            if checking and plain != bool(ALIGNED_TEST.search(e.cond)):
                yield e
        leaving = self.plain_leaving if plain else self.aligned_leaving
        i = bisect.bisect_left(leaving, loop.body.start_byte, key=lambda e: e.byte)
        if i < len(leaving) and leaving[i].byte < loop.body.end_byte:
            yield leaving[i]

    # -- where the walk is checked instead --------------------------------------------

    def _classify(self, i: int, loop: Loop, access: LoopCall) -> PfnWalk:
        facts, project = self.facts, self.project
        function = project.function(facts, loop)
        extent = _extent(project, loop, function)
        check = (
            self._aligned_check(loop, access)
            or self.outer_checks.get(i)
            or self.checks.caller_check(facts, function)
            or self._check_before_loop(function, loop)
        )
        return PfnWalk(facts, loop, function, access, extent, check)

    def _aligned_check(self, loop: Loop, access: LoopCall) -> Check | None:
        found = min(self._checking_exits(loop, plain=False), key=lambda e: e.byte, default=None)
        if found is None or found.byte >= access.call.byte:
            return None
        granularity = block_granularity(found.cond)
        return Check("aligned", self.facts.path, found.line, loop.function, granularity)

    def _check_before_loop(self, function: Function | None, loop: Loop) -> Check | None:
        if function is None:
            return None
        found = self.checks.before(function, loop.span.start_byte)
        if found is None:
            return None
        return Check("before-loop", self.facts.path, found.line, function.name, None)


def _owner(access: LoopCall, stepping: dict[str, list[int]]) -> int | None:
    """The loop that walks an access: the innermost open loop stepping a variable that
    moves its PFN argument.  One loop only: in `pfn_to_page(base + i * n + j)` the j
    loop walks the PFNs, the i loop around it the stretches j starts from, and its
    checks are the outer checks of the j loop."""
    call = access.call
    if call.name not in MEMMAP_ACCESSORS or not call.args:
        return None
    names = placing_identifiers(call.args[0])
    # loops are in file order, a parent before its children: the innermost is the last
    return max((stepping[v][-1] for v in names if stepping.get(v)), default=None)


class _Outer:
    """The open loops' first validating byte (see _validates_from), as a running
    minimum: the outermost loop that validates before a byte is a bisect."""

    def __init__(self) -> None:
        self.mins: list[float] = []  # negated running minimum: non-decreasing

    def open(self, validates_from: float) -> None:
        self.mins.append(max(self.mins[-1], -validates_from) if self.mins else -validates_from)

    def close(self) -> None:
        self.mins.pop()

    def first_before(self, byte: int) -> int | None:
        """The position on the stack of the outermost open loop validating before byte."""
        i = bisect.bisect_right(self.mins, -byte)
        return i if i < len(self.mins) else None


class _ValidIterators:
    """The open iterator macros that yield valid ranges: for_each_valid_pfn() and the
    like, or for_each_mem_pfn_range() with the variables it sets."""

    def __init__(self) -> None:
        self.valid = 0
        self.bounds: dict[str, int] = {}  # variable -> open iterators setting it

    def _counted(self, loop: Loop) -> bool:
        return loop.kind == "macro" and VALID_RANGE_ITERATORS.search(loop.macro) is not None

    def open(self, loop: Loop, step: int = 1) -> None:
        if not self._counted(loop):
            return
        if "valid" in loop.macro:
            self.valid += step
        for var in identifiers(loop.cond):
            self.bounds[var] = self.bounds.get(var, 0) + step

    def close(self, loop: Loop) -> None:
        self.open(loop, -1)

    def around(self, loop: Loop) -> bool:
        """Inside for_each_valid_pfn(), or bounded by a range an open iterator yields."""
        if self.valid:
            return True
        return any(self.bounds.get(var) for var in identifiers(f"{loop.init} {loop.cond}"))


def _first_in(sorted_bytes: Sequence[int], start: int, end: int) -> float:
    """The first of sorted_bytes in [start, end), inf when none is."""
    i = bisect.bisect_left(sorted_bytes, start)
    return sorted_bytes[i] if i < len(sorted_bytes) and sorted_bytes[i] < end else math.inf


def _extent(project: Project, loop: Loop, function: Function | None) -> str:
    """How far the walk reaches, from its bounds (not its stride): the init and the
    condition, with the bound variables' values one level deep.  A bound named after a
    pageblock or section is that unit, not a MAX_ORDER block: a pageblock stays at
    pageblock_order whatever the largest buddy order is."""
    text = f"{loop.init} ; {loop.cond}"
    names = identifiers(text)
    bindings = project.bindings(function) if function is not None else None
    if _named(BLOCK_WORDS, text, names, bindings):
        # where it ends: the condition's bounds, not the walked variable, whose values
        # say where the walk starts or skips to
        ends = identifiers(loop.cond) - set(loop.induction_vars)
        return (
            _granularity(loop.cond, ends, bindings)
            or _granularity(text, names, bindings)
            or "block"
        )
    if _named(SPAN_WORDS, text, names, bindings, _uncapped):
        return "zone-span"
    if bindings is not None and bindings.name_a_parameter(names):
        return "caller-range"
    return "unknown"


def _named(
    pattern: re.Pattern[str],
    text: str,
    names: set[str],
    bindings: Bindings | None,
    prepare: Callable[[str], str] | None = None,
) -> bool:
    """pattern in text, or in the values of these variables one level deep; `prepare`:
    what of each text is searched."""
    if pattern.search(prepare(text) if prepare else text):
        return True
    return bindings is not None and bindings.first_match(names, pattern, prepare) is not None


_CAP = re.compile(r"\b(min|min_t|umin|min3)\s*\(")


def _uncapped(text: str) -> str:
    """text without the operands of min() that name a zone or node span while another
    does not: in `min(max_pfn, start_pfn + pages)` max_pfn only caps the walk, and
    start_pfn + pages says how far it goes (xen's balloon, a memory region's end)."""
    for match in reversed(list(_CAP.finditer(text))):
        end = closing(text, match.end() - 1)
        args = split_args(text[match.end() - 1 : end + 1])
        if match[1] == "min_t":
            args = args[1:]  # its first argument is a type
        kept = [arg for arg in args if not SPAN_WORDS.search(arg)] or list(args)
        text = f"{text[: match.start()]}({', '.join(kept)}){text[end + 1 :]}"
    return text


def _granularity(text: str, names: set[str], bindings: Bindings | None) -> str | None:
    """block_granularity() of text with these variables' values one level deep."""
    return next(
        (
            unit
            for unit, unit_words in BLOCK_GRANULARITY
            if _named(unit_words, text, names, bindings)
        ),
        None,
    )


def _loop_text(loop: Loop) -> str:
    """Bounds and stride: what tells a block-by-block loop's granularity."""
    return f"{loop.init} ; {loop.cond} ; " + " ".join(s.amount for s in loop.steps)
