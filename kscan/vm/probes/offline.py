"""offline: offline, then online again, the memory blocks that hold or neighbour a hole.

Offlining isolates and migrates every page of the block, then walks it
(offline_pages(), test_pages_isolated(), the contig-range machinery of KS007's APIs);
onlining frees it back through the buddy allocator.  The kernel's own rules give the
expectation for each block, from the model's layout:

  - a block with a hole (pages that are not System RAM) is refused: "memory holes",
    since 5.6 (c5e79ef561b0, "don't allow to online/offline memory blocks with holes");
  - a block that two zones' spans meet in is refused: it has no zone
    (memory_block_offline());
  - a whole block of one zone may go offline; it may also fail (-EBUSY) on an
    unmovable page, which is no disagreement.  What went offline must come back.

Blocks: every block holding a hole, then up to MAX_WHOLE_BLOCKS whole blocks beside an
absent section or a block with a hole.
"""

from __future__ import annotations

import re

from kscan.model.context import ModelContext
from kscan.model.ranges import PfnRange, clipped, find
from kscan.vm.compare import Check
from kscan.vm.probes.base import Probe, ProbeResult

MAX_WHOLE_BLOCKS = 4
_LINE = re.compile(r"^memory(\d+) (offline|online|state) (.*)$", re.M)


class OfflineBlocks(Probe):
    name = "offline"
    summary = "offline and online the memory blocks that hold or neighbour a hole"

    def guest(self, ctx: ModelContext) -> str:
        g = ctx.geometry
        addresses = " ".join(f"{s << g.page_shift:#x}" for s in _chosen_pfns(ctx))
        return f"""cd /sys/devices/system/memory || return 1
size=$((0x$(cat block_size_bytes)))
echo "block_size $size"
seen=" "
change() {{
    if err=$( {{ echo $2 > memory$1/state; }} 2>&1 ); then
        echo "memory$1 $2 ok"
    else
        echo "memory$1 $2 failed: ${{err##*: }}"
    fi
}}
for address in {addresses}; do
    block=$((address / size))
    case "$seen" in *" $block "*) continue;; esac
    seen="$seen$block "
    [ -d memory$block ] || continue
    change $block offline
    echo "memory$block state $(cat memory$block/state)"
    [ "$(cat memory$block/state)" = offline ] && change $block online
done
cd /"""

    def judge(self, ctx: ModelContext, output: str | None) -> ProbeResult:
        size = re.search(r"^block_size (\d+)", output or "", re.M)
        if size is None:
            return ProbeResult(self.name, "the guest did not list memory blocks")
        block_pages = int(size[1]) >> ctx.geometry.page_shift
        results: dict[int, dict[str, str]] = {}
        for index, what, text in _LINE.findall(output or ""):
            results.setdefault(int(index), {})[what] = text
        checks, lines = [], []
        for index, result in sorted(results.items()):
            window = PfnRange(index * block_pages, (index + 1) * block_pages)
            refusal = _refusal(ctx, window)
            offlined = result.get("offline") == "ok"
            came_back = result.get("online", "ok") == "ok"
            model = f"refused: {refusal}" if refusal else "may go offline"
            kernel = "offlined" if offlined else result.get("offline", "no answer")
            if offlined:
                kernel += ", onlined again" if came_back else f", online {result.get('online')}"
            agrees = (not offlined if refusal else True) and came_back
            checks.append(Check("offline", f"memory{index} {window}", model, kernel, agrees))
            lines.append(f"memory{index}: {kernel}")
        outcome = "; ".join(lines) if lines else "no block to try"
        return ProbeResult(self.name, outcome, checks)


def _refusal(ctx: ModelContext, window: PfnRange) -> str | None:
    """Why the kernel must refuse to offline the block, if it must."""
    memmap = ctx.memmap
    ram = sum(r.size for r in clipped(memmap.ram, window))
    if ram < window.size:
        return f"memory holes ({window.size - ram} pages)"
    zones = {z.zone for z in memmap.zone_spans if z.pfns.overlaps(window)}
    if len(zones) > 1:
        return f"spans zones {', '.join(sorted(zones))}"
    return None


def _chosen_pfns(ctx: ModelContext) -> list[int]:
    """A pfn in each section to try, in the order tried: sections with a hole, then
    whole sections beside an absent section or a section with a hole."""
    memmap, section = ctx.memmap, ctx.geometry.section_pages
    holding = sorted({pfn // section for r in memmap.holes for pfn in (r.start, r.end - 1)})
    beside = [r.start // section - 1 for r in memmap.absent]
    beside += [r.end // section for r in memmap.absent]
    beside += [s + step for s in holding for step in (-1, 1)]
    whole = []
    for s in beside:
        if s not in holding and s not in whole and find(memmap.present, s * section):
            whole.append(s)
    return [s * section for s in holding + whole[:MAX_WHOLE_BLOCKS]]
