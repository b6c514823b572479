"""A struct page pointer walk over more pages than one memory section may hold.

What: a loop steps a `struct page *` by one (`page++`, `page + i`, `&page[i]`,
`page[i]`) over a count that can exceed one MAX_ORDER block or one memory section:
pages_per_huge_page(), `1 << huge_page_order(h)` and other gigantic-page counts; or,
in hugetlb / CMA / alloc_contig_range() code (file or function name), folio_nr_pages(),
compound_nr() or the page count of the range — without nth_page() or folio_page().
Folios and `1 << order` blocks from the buddy allocator never exceed MAX_ORDER, which
always fits in a section, so they are not reported elsewhere.

Why: struct pages are virtually contiguous across sections only with
SPARSEMEM_VMEMMAP.  With classic SPARSEMEM each section has its own memmap piece, so
`page + i` past a section boundary points into unrelated memory.  A MAX_ORDER block
always fits in a section (mmzone.h enforces it), but gigantic hugetlb folios and big
CMA / alloc_contig_range() ranges do not.  Zi Yan's series "use nth_page() in place of
direct struct page manipulation" (mm/cma, mm/hugetlb, mm/memory_hotplug, 6.6/6.7 and
stable) fixed exactly this.  Severity is medium: it breaks only on configurations
without VMEMMAP, and only for folios or ranges larger than a section.

Example:
    for (i = 0; i < pages_per_huge_page(h); i++, page++)
        clear_highpage(page);                      /* KS003 */

Fix:
    for (i = 0; i < pages_per_huge_page(h); i++)
        clear_highpage(nth_page(page, i));
or, for folios, `folio_page(folio, i)`; or walk PFNs and use pfn_to_page(pfn + i).
"""

from collections.abc import Iterator

from kscan.analysis.project import Project
from kscan.analysis.rule import Rule
from kscan.analysis.walks import unit_step_vars
from kscan.discover.prefilter import needs
from kscan.facts.records import Function, Loop
from kscan.findings import Finding, Level, Walk
from kscan.vocab import (
    CONTIG_COUNTS,
    CONTIG_FUNCTION_WORDS,
    CONTIG_PATH_WORDS,
    COUNT_WORDS,
    FOLIO_COUNTS,
    GIGANTIC_COUNTS,
    GIGANTIC_WORDS,
    contig_context,
    identifiers,
)

_STRUCT_PAGE = (b"struct page", b"struct folio")


class PageWalkCrossSection(Rule):
    id = "KS003"
    name = "page-walk-cross-section"
    family = "page-walk"
    severity = Level.MEDIUM
    confidence = Level.MEDIUM
    needs = (
        needs(GIGANTIC_WORDS, _STRUCT_PAGE),
        needs(CONTIG_FUNCTION_WORDS, COUNT_WORDS, _STRUCT_PAGE, path_words=CONTIG_PATH_WORDS),
    )

    def check(self, project: Project) -> Iterator[Finding]:
        for facts, loop in project.loops():
            if not loop.detailed or loop.kind == "macro":
                continue
            function = project.function(facts, loop)
            if function is None:
                continue
            hit = _page_arithmetic(loop, function)
            if hit is None:
                continue
            reach = _reach(_count_text(loop, function), loop.cond, facts.path, function.name)
            if reach is None:
                continue
            what, extent, confidence = reach
            line, col, expr = hit
            yield self.finding(
                facts,
                line,
                col,
                loop.function,
                f"struct page arithmetic `{expr}` over {what} pages: without "
                "SPARSEMEM_VMEMMAP the memmap is contiguous only within a section; "
                "use nth_page()/folio_page()",
                confidence=confidence,
                walk=Walk(extent, "page", None),
            )


def _reach(count: str, cond: str, path: str, function: str) -> tuple[str, str, Level] | None:
    """(what, walk extent, confidence) when the count can exceed a section, else None."""
    if match := GIGANTIC_COUNTS.search(count):
        return match.group(), "huge-page", Level.HIGH
    if not contig_context(path, function):
        return None  # only hugetlb, CMA and contig code hold folios/ranges beyond MAX_ORDER
    if match := FOLIO_COUNTS.search(count):
        return match.group(), "huge-page", Level.MEDIUM
    if match := CONTIG_COUNTS.search(cond):
        return f"a contiguous range's {match.group()}", "caller-range", Level.MEDIUM
    return None


def _page_arithmetic(loop: Loop, function: Function) -> tuple[int, int, str] | None:
    """(line, col, text) of the first one-step struct page pointer walk in the loop."""
    pages = {var for var, kind in function.pointer_types if kind in ("page*", "folio*")}
    steppers = unit_step_vars(loop)
    for step in loop.steps:
        if step.var in pages and step.var in steppers:
            return loop.span.start_line, loop.span.start_col, f"{step.var}{step.op}"
    for index in loop.indexes:
        if index.base in pages and identifiers(index.offset) & steppers:
            return index.line, index.col, f"{index.base} + {index.offset}"
    return None


def _count_text(loop: Loop, function: Function) -> str:
    """The loop bound, with its variables' assigned values substituted one level deep."""
    bound_vars = identifiers(loop.cond) | identifiers(loop.init)
    values = [value for var, value in function.values if var in bound_vars]
    return " ; ".join([loop.init, loop.cond, *values])


RULE = PageWalkCrossSection()
