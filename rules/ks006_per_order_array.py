"""A per-order array or a loop over orders misses the largest order.

What: under the inclusive meaning of MAX_ORDER (6.4 on, MAX_PAGE_ORDER since 6.8):
- an array sized `[MAX_PAGE_ORDER]` (or `[MAX_ORDER]` in 6.4-6.7), which has no slot
  for the largest order: per-order arrays are sized `[NR_PAGE_ORDERS]`;
- a `for` loop that enumerates orders, `for (o = ...; o < MAX_PAGE_ORDER; o++)`,
  which never visits the largest order.
Silent: the same shapes under the exclusive meaning (6.1's `free_area[MAX_ORDER]`
and `order < MAX_ORDER` are right there), and buddy-merge loops such as
`while (order < MAX_PAGE_ORDER) { ...; order++; }` in __free_one_page(): a merge
step turns an order-`o` block into an order-`o + 1` block, so the last merge starts
from `MAX_PAGE_ORDER - 1` and the strict bound is what keeps the result valid.  The
rule tells them apart by shape: an enumeration is a `for` whose initialiser sets the
order variable; a merge advances it in the body.

Why: 23baf831a32c made every `< MAX_ORDER` loop `<= MAX_ORDER` and every
`[MAX_ORDER]` array `[MAX_ORDER + 1]`, later `[NR_PAGE_ORDERS]` (fd37721803c6).  A
loop or array written for the old meaning silently ignores the largest free blocks in
statistics, reporting or compaction decisions, or indexes one past the array end
when another loop does visit the largest order.

Example (6.12):
    unsigned long nr[MAX_PAGE_ORDER];                      /* KS006 */
    for (order = 0; order < MAX_PAGE_ORDER; order++)       /* KS006 */
        nr[order] = zone->free_area[order].nr_free;

Fix: `[NR_PAGE_ORDERS]` and `order < NR_PAGE_ORDERS` (or `order <= MAX_PAGE_ORDER`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kscan.analysis.maxorder import LARGEST, MAX_ORDER_NEEDS, operands, uses
from kscan.analysis.project import Project
from kscan.analysis.rule import Rule
from kscan.facts.intervals import innermost, nesting
from kscan.facts.records import FileFacts, Loop, NameUse
from kscan.findings import Finding, Level, OrderAsk
from kscan.patterns import compiled


class PerOrderArray(Rule):
    id = "KS006"
    name = "per-order-array-bound"
    family = "max-order"
    severity = Level.MEDIUM
    confidence = Level.MEDIUM
    needs = MAX_ORDER_NEEDS

    def check(self, project: Project) -> Iterator[Finding]:
        heads: dict[str, _ForHeads] = {}
        for facts, use, meaning, role in uses(project):
            if role != LARGEST:
                continue
            if use.parent_kind == "array_declarator" and use.parent.endswith(f"[{use.name}]"):
                message = f"`{use.parent}` has no slot for order {use.name}"
            elif _enumerates_below(_ForHeads.of(heads, facts), use):
                message = f"loop `{use.context}` never visits order {use.name}"
            else:
                continue
            yield self.finding(
                facts,
                use.line,
                use.col,
                use.function,
                f"{message}: {meaning.describe(use.name)}; use NR_PAGE_ORDERS",
                order=OrderAsk(use.name, 0, meaning.semantics, "misses"),
                properties=(("semantics", meaning.semantics),),
            )


def _enumerates_below(heads: _ForHeads, use: NameUse) -> bool:
    ops = operands(use)
    if ops is None or ops.normalised_op != "<" or ops.name_left:
        return False
    var = ops.other.strip()
    loop = heads.loop_at(use.byte)
    return loop is not None and bool(
        compiled(rf"(?:[\w\s]+\s)?{re.escape(var)}\s*=").match(loop.init)
    )


class _ForHeads:
    """The `for` loop whose head (initialiser, condition, update) holds each MAX_ORDER
    name of a file, found for all of them at once: one look at every loop per name
    cost names x loops in a file of many."""

    def __init__(self, facts: FileFacts) -> None:
        loops = [loop for loop in facts.loops if loop.kind == "for"]
        heads = [(loop.span.start_byte, loop.body.start_byte) for loop in loops]
        outer = nesting(heads)
        self.loops: dict[int, Loop] = {}
        bytes_ = [use.byte for use in facts.name_uses]
        for byte, i in zip(bytes_, innermost(heads, bytes_), strict=True):
            while i >= 0 and outer[i] >= 0:
                i = outer[i]  # the first in file order, as a scan of the loops finds
            if i >= 0:
                self.loops[byte] = loops[i]

    def loop_at(self, byte: int) -> Loop | None:
        return self.loops.get(byte)

    @classmethod
    def of(cls, known: dict[str, _ForHeads], facts: FileFacts) -> _ForHeads:
        found = known.get(facts.path)
        if found is None:
            found = known[facts.path] = cls(facts)
        return found


RULE = PerOrderArray()
