"""What one file's detailed loops hold, nested ones included, by byte ranges.

A loop's facts are its own (kscan/facts/loops.py): the calls, exits and assignments of
a nested detailed loop are that loop's, and a call names only its innermost guard.
Rules that ask about a loop and everything in it ask here: the file's facts sorted by
byte once, so that "the calls in this body" is a bisect, and a guard's enclosing
guards a walk up `parent` links.  A nest n deep then costs n log n, where copying each
loop's nested facts into it cost n x n.
"""

from __future__ import annotations

import bisect
from functools import cached_property

from kscan.facts.records import Assign, Exit, FileFacts, Guard, Loop, LoopCall

LEAVING = ("return", "goto")  # jumps that leave every loop around them


class Nest:
    def __init__(self, facts: FileFacts) -> None:
        self.facts = facts
        loops = [lp for lp in facts.loops if lp.detailed]
        self.calls: list[LoopCall] = sorted(
            (lc for lp in loops for lc in lp.calls), key=lambda lc: lc.call.byte
        )
        self.call_bytes = [lc.call.byte for lc in self.calls]
        # returns and gotos, by their guard's byte: those of a loop are those whose
        # guard lies in its body (the jump is inside the guard)
        self.leaving: list[Exit] = sorted(
            (e for lp in loops for e in lp.exits if e.kind in LEAVING), key=lambda e: e.byte
        )
        self.leaving_bytes = [e.byte for e in self.leaving]
        self.assigns: list[Assign] = sorted(
            (a for lp in loops for a in lp.assigns), key=lambda a: a.byte
        )

    def leaving_in(self, start: int, end: int) -> list[Exit]:
        return self.leaving[self._slice(self.leaving_bytes, start, end)]

    def exits_of(self, loop: Loop) -> list[Exit]:
        """The guarded exits of a loop, by byte: its own continues and breaks, and the
        returns and gotos in its body (nested loops' included) guarded there."""
        own = [e for e in loop.exits if e.kind not in LEAVING]
        inner = self.leaving_in(loop.body.start_byte, loop.body.end_byte)
        return sorted(own + inner, key=lambda e: e.byte)

    def assigns_in(self, start: int, end: int) -> list[Assign]:
        """The assignments from calls between start and end, nested loops' included."""
        return self.assigns[self._slice(self._assign_bytes, start, end)]

    @cached_property
    def _assign_bytes(self) -> list[int]:
        return [a.byte for a in self.assigns]

    @staticmethod
    def _slice(bytes_: list[int], start: int, end: int) -> slice:
        return slice(bisect.bisect_left(bytes_, start), bisect.bisect_left(bytes_, end))

    @cached_property
    def _name_bytes(self) -> list[int]:
        return [byte for byte, _ in self.facts.guard_names]

    def names_between(self, start: int, end: int) -> list[str]:
        """The names in guards' conditions between start and end."""
        found = self.facts.guard_names[self._slice(self._name_bytes, start, end)]
        return [name for _, name in found]


def part_before(guard: Guard, byte: int) -> tuple[int, int] | None:
    """What of guard's condition holds when `byte` runs: all of it in the then- or
    else-branch; in the condition, the part left of it (short-circuit: the conjuncts
    before a call hold when it runs); None elsewhere."""
    cond, then, other = guard.cond, guard.then, guard.other
    if cond[0] <= byte < cond[1]:
        return cond[0], byte
    if then[0] <= byte < then[1] or (other is not None and other[0] <= byte < other[1]):
        return cond
    return None
