"""struct page arithmetic across a block: `page++`, `page + i`, `page[i]` over it.

What: a loop that steps a `struct page *` (`page++`, `page += pageblock_nr_pages`) or
indexes one by its counter (`page + i`, `&page[i]`) while the loop runs over a whole
block whose order can be the largest: bounded by `1 << order` (or a count computed
from it) where the order reaches MAX_ORDER (kscan/whatif/orders.py), by
MAX_ORDER_NR_PAGES, or by a pointer to the block's end.  The allocator's own paths are
the typical sites: free_pages_prepare(), post_alloc_hook(), __free_pages_core(),
split_page(), and the hooks they call with the order (page_owner, KASAN, KMSAN).
Folio walks (`folio_nr_pages()`) are not listed: the what-if raises the buddy's
largest block, not the size of the folios THP and the page cache ask for; KS003
covers folios beyond a section in hugetlb and CMA code.

Why: struct pages are one virtually contiguous array with SPARSEMEM_VMEMMAP (and with
FLATMEM), but with classic SPARSEMEM each section has its own memmap piece, so
`page + i` past a section boundary points into unrelated memory.  Today a block never
leaves its section, so every walk over one is safe on every memory model; at N above
the section order a block of the largest order spans sections.  On architectures that
allow SPARSEMEM without VMEMMAP (x86_64 lets you turn it off) each site breaks.

Example (6.12 mm/page_alloc.c, __free_pages_core()):
    unsigned int nr_pages = 1 << order;
    for (loop = 0; loop < nr_pages; loop++, p++)      /* p walks 2^N pages */
        __ClearPageReserved(p);

Fix: `nth_page(page, i)` (pfn_to_page(page_to_pfn(page) + i) without VMEMMAP), or walk
PFNs and use pfn_to_page(pfn + i); or make SPARSEMEM_VMEMMAP a dependency of N above
the section order.
"""

from __future__ import annotations

from collections.abc import Iterator

from kscan.analysis.project import Project
from kscan.discover.prefilter import needs
from kscan.facts.records import FileFacts, Function, Loop
from kscan.findings import Finding, Level
from kscan.vocab import ORDER_NAMES, identifiers
from kscan.whatif.analysis import WITHOUT_VMEMMAP, Analysis
from kscan.whatif.orders import SHIFTS


class PageWalkAcrossBlock(Analysis):
    id = "WI2"
    name = "page-walk-across-block"
    severity = Level.MEDIUM
    confidence = Level.MEDIUM
    needs = (needs(ORDER_NAMES), needs(SHIFTS))
    fix = "nth_page(page, i) or pfn_to_page(pfn + i) instead of page + i / page++"

    def sites(self, project: Project) -> Iterator[Finding]:
        reach = self.context.reach(project)
        for facts in self.files(project):
            for fn in facts.functions:
                pages = {v for v, kind in fn.pointer_types if kind == "page*"}
                if not pages:
                    continue
                for loop in facts.loops_in(fn.span):
                    if loop.kind == "macro" or not loop.detailed:
                        continue
                    step = _page_step(facts, loop, pages)
                    if step is None:
                        continue
                    why = reach.block_in(_count_text(loop, fn), facts, fn)
                    if why is None:
                        continue
                    line, col, expr = step
                    yield self.site(
                        facts,
                        line,
                        col,
                        fn.name,
                        f"`{expr}` walks a block of up to {self.target.block()}, which spans "
                        f"{self._sections()} sections: the loop runs over {why}",
                        WITHOUT_VMEMMAP,
                    )

    def _sections(self) -> int:
        return 1 << (self.target.order - self.target.section_order)


def _page_step(facts: FileFacts, loop: Loop, pages: set[str]) -> tuple[int, int, str] | None:
    """(line, col, text) of the struct page pointer the loop steps or indexes."""
    for step in loop.steps:
        if step.var in pages:
            text = (
                f"{step.var}{step.op}"
                if step.op in ("++", "--")
                else f"{step.var} {step.op} {step.amount}"
            )
            return loop.span.start_line, loop.span.start_col, text
    counters = {s.var for s in loop.steps}
    for offset in facts.offsets:
        if (
            loop.body.contains(offset.byte)
            and offset.base in pages
            and identifiers(offset.offset) & counters
        ):
            text = (
                f"&{offset.base}[{offset.offset}]"
                if offset.op == "[]"
                else f"{offset.base} {offset.op} {offset.offset}"
            )
            return offset.line, offset.col, text
    return None


def _count_text(loop: Loop, fn: Function) -> str:
    """The loop's bounds, with the bound variables' assigned values one level deep."""
    bound_vars = identifiers(loop.cond) | identifiers(loop.init)
    values = [value for var, value in fn.values if var in bound_vars]
    return " ; ".join([loop.init, loop.cond, *values])
