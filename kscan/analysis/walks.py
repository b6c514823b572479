"""Walk analysis shared by the pfn-walk rules: which loops touch memmap PFN by PFN,
whether a validity check dominates the access, and how far the walk can reach.

Dominance is structural, over loop facts: a check dominates an access when it sits in
an enclosing `if` (or an earlier `&&` conjunct), in a guarded `continue`/`break`/
`return`/`goto` earlier in the body, or in the loop condition.  A check guarded by
an alignment test (`IS_ALIGNED(pfn, X) && !pfn_valid(pfn)`) only covers block heads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from kscan.analysis.project import Project
from kscan.analysis.provenance import WalkRange
from kscan.analysis.provenance.origins import BLOCK, closing
from kscan.analysis.provenance.trace import header
from kscan.analysis.rule import Rule
from kscan.discover.prefilter import Needs, needs
from kscan.facts.records import Call, Exit, FileFacts, Function, Loop, LoopCall, split_args
from kscan.findings import Location, Provenance, Related, Route
from kscan.vocab import (
    ALIGNED_TEST,
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
            facts, function, loop, frozenset(identifiers(position) & stepped), (position,)
        )
    first = _initial_values(loop.init).get(position, position)
    return WalkRange(
        facts, function, loop, frozenset({position}), (first, *_bounds_of(loop.cond, position))
    )


_DECLARED = re.compile(r"(?:[\w\s*]*[\s*])?([A-Za-z_]\w*)\s*=\s*(.+)", re.S)
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
    for piece in re.split(r"&&|\|\||,", cond):
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


def pfn_walks(project: Project) -> Iterator[PfnWalk]:
    checks = project.validity_checks
    for facts, loop in project.loops():
        if not loop.detailed or loop.kind == "macro":
            continue
        access = _unchecked_access(facts, loop, checks)
        if access is None:
            continue
        yield _classify(project, facts, loop, access, checks)


def _unchecked_access(facts: FileFacts, loop: Loop, checks: frozenset[str]) -> LoopCall | None:
    steppers = unit_step_vars(loop)
    if not steppers or set(loop.cond_calls) & checks:
        return None
    if _inside_valid_iterator(facts, loop):
        return None
    for lc in loop.calls:
        if lc.call.name not in MEMMAP_ACCESSORS or not lc.call.args:
            continue
        walked = identifiers(lc.call.args[0]) & steppers
        if not walked or _owned_by_inner_loop(facts, loop, lc, walked):
            continue
        if not _dominated(loop, lc, checks, per_pfn_only=True):
            return lc
    return None


def _inside_valid_iterator(facts: FileFacts, loop: Loop) -> bool:
    """Inside for_each_valid_pfn(), or bounded by a range for_each_mem_pfn_range() yields."""
    bounds = identifiers(f"{loop.init} {loop.cond}")
    for outer in facts.loops:
        if outer.kind != "macro" or not outer.body.contains(loop.span.start_byte):
            continue
        if VALID_RANGE_ITERATORS.search(outer.macro) and (
            "valid" in outer.macro or bounds & identifiers(outer.cond)
        ):
            return True
    return False


def _owned_by_inner_loop(facts: FileFacts, loop: Loop, lc: LoopCall, walked: set[str]) -> bool:
    """The access advances with a nested loop's variable: that loop is the walk."""
    for inner in facts.loops:
        if inner is loop or not loop.body.contains(inner.span.start_byte):
            continue
        if inner.body.contains(lc.call.byte) and unit_step_vars(inner) & walked:
            return True
    return False


def _dominated(loop: Loop, lc: LoopCall, checks: frozenset[str], per_pfn_only: bool) -> bool:
    validated = {a.lhs for a in loop.assigns if a.call in checks and a.byte < lc.call.byte}
    for guard in lc.guards:
        if set(guard.cond_calls) & checks or identifiers(guard.cond) & validated:
            return True
    for exit_ in _checking_exits(loop, checks, validated, before=lc.call.byte):
        if not (per_pfn_only and ALIGNED_TEST.search(exit_.cond)):
            return True
    return False


def _checking_exits(
    loop: Loop, checks: frozenset[str], validated: set[str], before: int
) -> list[Exit]:
    return [
        e
        for e in loop.exits
        if e.byte < before and (set(e.cond_calls) & checks or e.cond_idents & validated)
    ]


def _classify(
    project: Project, facts: FileFacts, loop: Loop, access: LoopCall, checks: frozenset[str]
) -> PfnWalk:
    function = project.function(facts, loop)
    extent = _extent(loop, function)
    check = (
        _aligned_check(facts, loop, access, checks)
        or _outer_loop_check(facts, loop, checks)
        or _caller_check(project, facts, function, checks)
        or _check_before_loop(facts, function, loop, checks)
    )
    return PfnWalk(facts, loop, function, access, extent, check)


def _aligned_check(
    facts: FileFacts, loop: Loop, access: LoopCall, checks: frozenset[str]
) -> Check | None:
    for exit_ in _checking_exits(loop, checks, set(), access.call.byte):
        if ALIGNED_TEST.search(exit_.cond):
            return Check(
                "aligned", facts.path, exit_.line, loop.function, block_granularity(exit_.cond)
            )
    return None


def _extent(loop: Loop, function: Function | None) -> str:
    """How far the walk reaches, from its bounds (not its stride).  A bound named
    after a pageblock or section is that unit, not a MAX_ORDER block: a pageblock stays
    at pageblock_order whatever the largest buddy order is."""
    text = _bounds_text(loop, function)
    if BLOCK_WORDS.search(text):
        return block_granularity(_end_text(loop, function)) or block_granularity(text) or "block"
    if SPAN_WORDS.search(text):
        return "zone-span"
    params = {name for name, _ in function.params} if function else set()
    if identifiers(text) & params:
        return "caller-range"
    return "unknown"


def _bounds_text(loop: Loop, function: Function | None) -> str:
    """Init and condition, with the bound variables' values one level deep."""
    text = f"{loop.init} ; {loop.cond}"
    if function is not None:
        bounds = identifiers(text)
        text += " ; " + " ; ".join(v for var, v in function.values if var in bounds)
    return text


def _end_text(loop: Loop, function: Function | None) -> str:
    """The condition, with the values of its bounds (not of the walked variable, whose
    values say where a walk starts or skips to, not where it ends)."""
    bounds = identifiers(loop.cond) - set(loop.induction_vars)
    values = [v for var, v in function.values if var in bounds] if function else []
    return " ; ".join([loop.cond, *values])


def _loop_text(loop: Loop) -> str:
    """Bounds and stride: what tells a block-by-block loop's granularity."""
    return f"{loop.init} ; {loop.cond} ; " + " ".join(s.amount for s in loop.steps)


def _outer_loop_check(facts: FileFacts, loop: Loop, checks: frozenset[str]) -> Check | None:
    """An enclosing loop that validates (once per iteration) before reaching this one."""
    before = loop.span.start_byte
    for outer in facts.loops:
        if outer is loop or not outer.detailed or not outer.body.contains(before):
            continue
        validates = (
            set(outer.cond_calls) & checks
            or any(set(e.cond_calls) & checks for e in outer.exits if e.byte < before)
            or any(lc.call.name in checks and lc.call.byte < before for lc in outer.calls)
        )
        if validates:
            granularity = block_granularity(_loop_text(outer)) or block_granularity(
                _loop_text(loop)
            )
            return Check(
                "outer-loop", facts.path, outer.span.start_line, outer.function, granularity
            )
    return None


_CALLER_DEPTH = 3


def _caller_check(
    project: Project,
    facts: FileFacts,
    function: Function | None,
    checks: frozenset[str],
    depth: int = _CALLER_DEPTH,
) -> Check | None:
    """Every caller validates before calling (directly, or through its own callers)."""
    if function is None or not function.static or depth == 0:
        return None
    sites = project.calls_within(facts).get(function.name, ())
    if not sites:
        return None
    first = None
    for caller, call in sites:  # a static function's callers live in its own file
        earlier = [c for c in caller.calls if c.name in checks and c.byte < call.byte]
        if earlier:
            granularity = block_granularity(" ".join(call.args)) or _finest(earlier)
            first = first or Check("caller", facts.path, call.line, caller.name, granularity)
        elif _caller_check(project, facts, caller, checks, depth - 1) is None:
            return None
        else:
            first = first or Check("caller", facts.path, call.line, caller.name, None)
    return first


def _finest(checks: list[Call]) -> str | None:
    """The finest unit the checks are made per, from their arguments:
    `__first_valid_page(pfn, pageblock_nr_pages)` checks each pageblock."""
    found = {block_granularity(" ".join(c.args)) for c in checks}
    return next((unit for unit in ("pageblock", "block", "section") if unit in found), None)


def _check_before_loop(
    facts: FileFacts, function: Function | None, loop: Loop, checks: frozenset[str]
) -> Check | None:
    if function is None:
        return None
    found = [c for c in function.calls if c.name in checks and c.byte < loop.span.start_byte]
    if not found:
        return None
    return Check("before-loop", facts.path, found[-1].line, function.name, None)
