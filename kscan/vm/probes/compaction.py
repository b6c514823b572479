"""compaction: compact every zone (/proc/sys/vm/compact_memory) and count the free
blocks of the largest order before and after.

Compaction's scanners walk each zone by pageblock and migrate pages within it
(mm/compaction.c; kernel-history.md A12, A16 for their hole handling).  What it frees
merges in the buddy allocator, and a free block of the largest order can only be a
MAX_ORDER block without a hole: so after compaction, as before, no zone may have
more of them than the model's count of whole blocks.  The scanners' counters from
/proc/vmstat show how much was walked.
"""

from __future__ import annotations

import re

from kscan.model.context import ModelContext
from kscan.vm import expect
from kscan.vm.compare import Check
from kscan.vm.kernel_view import KernelViewError, parse_buddyinfo
from kscan.vm.probes.base import Probe, ProbeResult

_COUNTERS = ("compact_migrate_scanned", "compact_free_scanned", "compact_isolated")
_STEP = re.compile(r"^== (before|after)$", re.M)


class Compaction(Probe):
    name = "compaction"
    summary = "compact all zones; free MAX_ORDER blocks before and after, against the model"

    def guest(self, ctx: ModelContext) -> str:
        counters = "|".join(_COUNTERS)
        return f"""echo "== before"; cat /proc/buddyinfo; grep -E '^({counters}) ' /proc/vmstat
echo 1 > /proc/sys/vm/compact_memory
echo "status $?"
echo "== after"; cat /proc/buddyinfo; grep -E '^({counters}) ' /proc/vmstat"""

    def judge(self, ctx: ModelContext, output: str | None) -> ProbeResult:
        pieces = _STEP.split(output or "")  # "", "before", its text, "after", its text
        steps = dict(zip(pieces[1::2], pieces[2::2], strict=True))
        if set(steps) != {"before", "after"}:
            return ProbeResult(self.name, "the guest did not finish compacting")
        try:
            before, after = (_free_and_counters(steps[k]) for k in ("before", "after"))
        except KernelViewError as err:
            return ProbeResult(self.name, f"unreadable output: {err}")
        top = ctx.geometry.max_page_order
        whole = expect.whole_free_blocks(ctx)
        checks, moves = [], []
        for span in ctx.memmap.zone_spans:
            node, zone = span.node, span.zone
            counts, earlier_counts = after[0].get((node, zone)), before[0].get((node, zone))
            if not counts or not earlier_counts or min(len(counts), len(earlier_counts)) <= top:
                continue
            limit, free, earlier = whole[node, zone], counts[top], earlier_counts[top]
            moves.append(f"{zone} {earlier} -> {free}")
            checks.append(
                Check(
                    "compaction",
                    f"node {node} {zone}: order {top} free after",
                    f"at most {limit}",
                    str(free),
                    free <= limit,
                    "" if free <= limit else f"{free - limit} more than whole blocks",
                )
            )
        scanned = {k: after[1].get(k, 0) - before[1].get(k, 0) for k in _COUNTERS}
        status = re.search(r"^status (\d+)", steps["before"], re.M)
        outcome = (
            f"order-{top} free blocks {', '.join(moves)}; migrate scanner "
            f"{scanned['compact_migrate_scanned']} pages, free scanner "
            f"{scanned['compact_free_scanned']}, {scanned['compact_isolated']} isolated"
        )
        if status and status[1] != "0":
            outcome += f"; writing compact_memory failed with status {status[1]}"
        return ProbeResult(self.name, outcome, checks)


def _free_and_counters(text: str) -> tuple[dict[tuple[int, str], list[int]], dict[str, int]]:
    buddy_lines = "\n".join(line for line in text.splitlines() if line.startswith("Node "))
    counters = {
        words[0]: int(words[1])
        for words in (line.split() for line in text.splitlines())
        if len(words) == 2 and words[0] in _COUNTERS
    }
    return parse_buddyinfo(buddy_lines, "compaction probe"), counters
