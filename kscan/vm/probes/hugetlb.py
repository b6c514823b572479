"""hugetlb: allocate one gigantic hugetlb page (1 GiB on x86_64) at run time.

alloc_gigantic_page() calls alloc_contig_pages(): each zone is scanned for ranges
aligned to the page size that lie inside it, and a range goes to
alloc_contig_range() only when every page is online, in the zone and not reserved
(pfn_range_valid_contig()), so a hole page (PG_reserved) or an absent section rules
it out.  The model lists those ranges: when none is whole RAM, the allocation must
fail; when one is, it may still fail on pages the kernel keeps or cannot migrate.
The page is freed again right after.
"""

from __future__ import annotations

import re

from kscan.model.context import ModelContext
from kscan.model.ranges import PfnRange, align_up, covers
from kscan.vm.compare import Check
from kscan.vm.probes.base import Probe, ProbeResult


class GiganticHugetlb(Probe):
    name = "hugetlb"
    summary = "allocate a gigantic hugetlb page (alloc_contig_pages -> alloc_contig_range)"

    def guest(self, ctx: ModelContext) -> str:
        kib = (ctx.geometry.page_size << ctx.geometry.gigantic_order) >> 10
        return f"""d=/sys/kernel/mm/hugepages/hugepages-{kib}kB
if [ -d $d ]; then
    echo 1 > $d/nr_hugepages
    echo "allocated $(cat $d/nr_hugepages)"
    echo 0 > $d/nr_hugepages
    echo "after freeing $(cat $d/nr_hugepages)"
else
    echo "unavailable"
fi"""

    def judge(self, ctx: ModelContext, output: str | None) -> ProbeResult:
        g = ctx.geometry
        size = g.order_size(g.gigantic_order)
        tried, whole = candidates(ctx)
        model = (
            f"{len(whole)} of {len(tried)} aligned ranges whole RAM"
            if tried
            else "no aligned range inside a zone"
        )
        allocated = re.search(r"^allocated (\d+)", output or "", re.M)
        if allocated is None:
            why = (
                f"the kernel offers no {size} hugetlb pages"
                if "unavailable" in (output or "")
                else "the guest did not answer"
            )
            return ProbeResult(self.name, f"not run: {why}; model: {model}")
        got = int(allocated[1])
        agrees = got == 0 or bool(whole)
        kernel = f"{got} page of {size} allocated" if got else f"no page of {size}"
        note = "" if agrees else "the kernel found a range the model says holds a hole"
        check = Check("hugetlb", f"a {size} page", model, kernel, agrees, note)
        outcome = f"{kernel}; model: {model}"
        if whole:
            outcome += f" (first at {whole[0]})"
        return ProbeResult(self.name, outcome, [check])


def candidates(ctx: ModelContext) -> tuple[list[PfnRange], list[PfnRange]]:
    """(ranges alloc_contig_pages() looks at, those that are online RAM the model does
    not reserve)."""
    pages = 1 << ctx.geometry.gigantic_order
    memmap = ctx.memmap
    tried = [
        PfnRange(pfn, pfn + pages)
        for zone in memmap.zone_spans
        for pfn in range(align_up(zone.pfns.start, pages), zone.pfns.end - pages + 1, pages)
    ]
    whole = [r for r in tried if covers(memmap.free, r)]
    return tried, whole
