"""Where a variable that holds a check's result guards a PFN access.

`page = pfn_to_online_page(pfn); if (page) { ... pfn_to_page(pfn) ... }`, or with
`if (!page) continue;`: the access is checked through the variable when, in the loop
that walks it, the variable got a check's result before the access, and a guard
around the access, or a guarded exit before it, names the variable.  Asked of every
guard around each access in turn, that is n x n for n accesses n ifs deep; here one
pass over a file's facts in byte order answers it for every access at once.

The pass keeps, for each guard's arm and each exit, a mark: the lesser of where its
condition starts and where a variable it names last got a check's result.  An access
in loop L is checked through a variable when an arm open around it, or an exit of L
before it, has a mark at or after L's body start (both the guard and the assignment
lie in L then).  Marks only move forward, and each moves once for each variable it
names, so the pass is linear but for a heap of the open arms.

An access inside a condition (`if (ok && PageLRU(pfn_to_page(pfn)))`) is checked by
the part left of it: that is asked directly, of the conditions holding it.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterator
from functools import cached_property

from kscan.analysis.nesting import LEAVING, Nest
from kscan.facts.records import Exit, FileFacts, LoopCall
from kscan.vocab import ALIGNED_TEST

# event kinds, in the order they are taken at one byte: an arm that ends there does not
# hold an access there, one that starts there does
_CLOSE, _OPEN, _EXIT, _ASSIGN, _ACCESS = range(5)


class _Mark:
    """A guard's arm, or an exit: where it became able to check (see the module doc)."""

    __slots__ = ("start", "names", "exits", "arm", "value", "moves")

    def __init__(
        self, start: int, names: frozenset[str], exits: _Exits | None = None, arm: int = -1
    ) -> None:
        self.start = start  # where its condition starts
        self.names = names  # the variables its condition names
        self.exits = exits  # an exit's set; None for an arm
        self.arm = arm  # an arm's index
        self.value = -math.inf
        self.moves = 0  # the heap holds an arm's older values too: those are stale


class _Exits:
    """The best mark of a set of exits as it moved, by byte."""

    def __init__(self) -> None:
        self.bytes: list[int] = []
        self.values: list[float] = []

    def rise(self, byte: int, value: float) -> None:
        if not self.values or value > self.values[-1]:
            self.bytes.append(byte)
            self.values.append(value)

    def before(self, byte: int) -> float:
        i = bisect.bisect_left(self.bytes, byte)
        return self.values[i - 1] if i else -math.inf


class HeldChecks:
    """One file's accesses checked through a variable, for one set of checks."""

    def __init__(self, facts: FileFacts, nest: Nest, checks: frozenset[str]) -> None:
        self.facts = facts
        self.nest = nest
        self.assigned: dict[str, list[int]] = {}  # variable -> where it gets a result
        for a in nest.assigns:
            if a.call in checks:
                self.assigned.setdefault(a.lhs, []).append(a.byte)
        self.arm_marks: dict[int, float] = {}  # call byte -> the best arm open around it
        self.leaving = _Exits()  # returns and gotos, wherever they are
        self.own: dict[int, _Exits] = {}  # loop -> its continues and breaks
        if self.assigned:
            self._pass(checks)

    def checked(self, loop: int, access: LoopCall) -> bool:
        """The access, walked by facts.loops[loop], is checked through a variable."""
        if not self.assigned:
            return False
        start = self.facts.loops[loop].body.start_byte
        byte = access.call.byte
        own = self.own.get(loop)
        return (
            self.arm_marks.get(byte, -math.inf) >= start
            or self.leaving.before(byte) >= start
            or (own is not None and own.before(byte) >= start)
            or self._in_condition(access.guard, start, byte)
        )

    # -- the pass ----------------------------------------------------------------------

    def _pass(self, checks: frozenset[str]) -> None:
        arms, exits = self._arms(), self._exits()
        latest: dict[str, int] = {}  # variable -> where it last got a check's result
        waiting: dict[str, list[_Mark]] = {}  # variable -> the marks its next result moves
        open_: set[int] = set()  # the arms holding the current byte
        heap: list[tuple[float, int, int]] = []  # (-value, arm, moves): the best open arm

        def move(mark: _Mark, value: float, byte: int) -> None:
            mark.value = value
            mark.moves += 1
            if mark.exits is not None:
                mark.exits.rise(byte, value)
            else:
                heapq.heappush(heap, (-value, mark.arm, mark.moves))

        for byte, kind, i in sorted(self._events(arms, exits, checks)):
            if kind == _CLOSE:
                open_.discard(i)
            elif kind == _ASSIGN:
                var = self.nest.assigns[i].lhs
                latest[var] = byte
                for mark in waiting.pop(var, ()):
                    if mark.value < mark.start:  # a result after it starts: its best
                        move(mark, mark.start, byte)
            elif kind == _ACCESS:
                while heap and (heap[0][1] not in open_ or arms[heap[0][1]].moves != heap[0][2]):
                    heapq.heappop(heap)
                if heap:
                    self.arm_marks[byte] = -heap[0][0]
            else:  # an arm opens, or an exit's guard comes
                mark = arms[i] if kind == _OPEN else exits[i]
                if kind == _OPEN:
                    open_.add(i)
                got = max((latest.get(n, -math.inf) for n in mark.names), default=-math.inf)
                move(mark, min(mark.start, got), byte)
                if mark.value < mark.start:
                    for name in mark.names & self.assigned.keys():
                        waiting.setdefault(name, []).append(mark)

    def _arms(self) -> list[_Mark]:
        """A mark for each arm (then, else) of each guard, in guard order."""
        out: list[_Mark] = []
        for guard in self.facts.guards:
            names = frozenset(self.nest.names_between(*guard.cond))
            for arm in (guard.then, guard.other):
                if arm is not None:
                    out.append(_Mark(guard.cond[0], names, arm=len(out)))
        return out

    def _exits(self) -> list[_Mark]:
        """A mark for each exit that checks every PFN (not only block-aligned ones), in
        its set: the returns and gotos, or its loop's own continues and breaks."""
        out = [_Mark(e.byte, e.cond_idents, self.leaving) for e in self.nest.leaving if _per_pfn(e)]
        for i, loop in enumerate(self.facts.loops):
            own = [e for e in loop.exits if e.kind not in LEAVING and _per_pfn(e)]
            if own:
                self.own[i] = _Exits()
                out += [_Mark(e.byte, e.cond_idents, self.own[i]) for e in own]
        return out

    def _events(
        self, arms: list[_Mark], exits: list[_Mark], checks: frozenset[str]
    ) -> Iterator[tuple[int, int, int]]:
        """(byte, kind, index) of the arms opening and closing, the exits, the
        assignments of a check's result, and the calls."""
        arm = iter(range(len(arms)))
        for guard in self.facts.guards:
            for part in (guard.then, guard.other):
                if part is not None:
                    i = next(arm)
                    yield part[0], _OPEN, i
                    yield part[1], _CLOSE, i
        for i, mark in enumerate(exits):
            yield mark.start, _EXIT, i
        for i, assign in enumerate(self.nest.assigns):
            if assign.call in checks:
                yield assign.byte, _ASSIGN, i
        for lc in self.nest.calls:
            yield lc.call.byte, _ACCESS, 0

    # -- an access inside a condition ---------------------------------------------------

    def _in_condition(self, guard: int, start: int, byte: int) -> bool:
        """A condition holding the access, in the loop body, names a variable left of the
        access that got a check's result between start and the access.  Only the guards
        whose condition holds the access are visited (rarely more than one)."""
        guards = self.facts.guards
        while guard >= 0 and guards[guard].cond[0] >= start:
            cond = guards[guard].cond
            if cond[0] <= byte < cond[1]:
                names = self.nest.names_between(cond[0], byte)
                if any(self._got_result(n, start, byte) for n in names):
                    return True
            guard = self._condition_parents[guard]
        return False

    @cached_property
    def _condition_parents(self) -> list[int]:
        """For each guard, the nearest guard whose condition holds it (-1: none)."""
        guards = self.facts.guards
        found: list[int] = []
        for guard in guards:  # a parent comes before its children
            parent = guard.parent
            if parent >= 0 and not guards[parent].cond[0] <= guard.cond[0] < guards[parent].cond[1]:
                parent = found[parent]
            found.append(parent)
        return found

    def _got_result(self, name: str, start: int, byte: int) -> bool:
        found = self.assigned.get(name)
        if not found:
            return False
        i = bisect.bisect_left(found, start)
        return i < len(found) and found[i] < byte


def _per_pfn(exit_: Exit) -> bool:
    """An exit that checks every PFN: not a check made on block-aligned PFNs only."""
    return not ALIGNED_TEST.search(exit_.cond)
