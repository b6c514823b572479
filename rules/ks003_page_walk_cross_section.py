"""A struct page pointer walk over more pages than one memory section may hold.

What: a loop steps a `struct page *` by one (`page++`, `page + i`, `&page[i]`,
`page[i]`) over an object's pages, without nth_page() or folio_page():
pages_per_huge_page(), `1 << huge_page_order(h)` and other gigantic-page counts;
folio_nr_pages() or compound_nr(), wherever the walk is (a folio may be a gigantic
hugetlb folio); a MAX_ORDER block (MAX_ORDER_NR_PAGES), which fits in a section
today and is judged safe by design, but is the first thing to break if MAX_ORDER
grows past a section; and, in hugetlb / CMA / alloc_contig_range() code (file or
function name), the page count of a contiguous range.  A plain `1 << order` block
from the buddy allocator, or a pageblock, is not reported.

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

import bisect
import re
from collections.abc import Iterator

from kscan.analysis.project import Bindings, Project
from kscan.analysis.rule import Rule
from kscan.analysis.walks import unit_step_vars, walk_range
from kscan.discover.prefilter import needs
from kscan.facts.records import FileFacts, Function, Index, Loop
from kscan.findings import Finding, Level, Walk
from kscan.vocab import (
    BLOCK_COUNT_WORDS,
    BLOCK_COUNTS,
    CONTIG_COUNTS,
    CONTIG_FUNCTION_WORDS,
    CONTIG_PATH_WORDS,
    COUNT_WORDS,
    FOLIO_COUNTS,
    FOLIO_WORDS,
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
        needs(FOLIO_WORDS, [b"struct page *"]),  # a page pointer over a folio's pages
        needs(CONTIG_FUNCTION_WORDS, COUNT_WORDS, _STRUCT_PAGE, path_words=CONTIG_PATH_WORDS),
        needs(BLOCK_COUNT_WORDS, _STRUCT_PAGE),
    )

    def check(self, project: Project) -> Iterator[Finding]:
        for facts in project.files:
            pages = _PagePointers(project, facts)
            for loop in facts.loops:
                if not loop.detailed or loop.kind == "macro":
                    continue
                function = project.function(facts, loop)
                if function is None:
                    continue
                hit = pages.arithmetic(loop, function)
                if hit is None:
                    continue
                bindings = project.bindings(function)
                reach = _reach(loop, bindings, facts.path, function.name)
                if reach is None:
                    continue
                what, extent, confidence = reach
                line, col, expr, pointer = hit
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
                    provenance=project.tracer.trace(walk_range(facts, function, loop, pointer)),
                )


def _reach(
    loop: Loop, bindings: Bindings, path: str, function: str
) -> tuple[str, str, Level] | None:
    """(what, walk extent, confidence) for a count of an object: a gigantic page, a
    folio or compound page (which may be a gigantic one, wherever it is), a MAX_ORDER block
    (within a section today, the model says so), or in hugetlb, CMA and contig code
    the pages of a contiguous range; else None (a plain count is no object)."""
    if found := _count(GIGANTIC_COUNTS, loop, bindings):
        return found, "huge-page", Level.HIGH
    if found := _count(FOLIO_COUNTS, loop, bindings):
        # hugetlb, CMA and contig code hold gigantic folios; elsewhere a folio is
        # gigantic only if such a one reaches the walk: the model says it may
        extent = "huge-page" if contig_context(path, function) else "folio"
        return found, extent, Level.MEDIUM
    if found := _count(BLOCK_COUNTS, loop, bindings):
        return found, "block", Level.MEDIUM
    if contig_context(path, function) and (match := CONTIG_COUNTS.search(loop.cond)):
        return f"a contiguous range's {match.group()}", "caller-range", Level.MEDIUM
    return None


def _count(pattern: re.Pattern[str], loop: Loop, bindings: Bindings) -> str | None:
    """pattern in the loop bound, or in its variables' values one level deep."""
    text = f"{loop.init} ; {loop.cond}"
    if match := pattern.search(text):
        return match.group()
    return bindings.first_match(identifiers(text), pattern)


class _PagePointers:
    """One file's struct page and folio pointers, and the arithmetic on them in its
    loops, indexed by the variable the offset names: a loop's arithmetic, nested loops
    included, is a bisect, not a look at every nested loop's."""

    def __init__(self, project: Project, facts: FileFacts) -> None:
        self.pages: dict[int, set[str]] = {}  # id(function) -> its page pointers
        self.by_var: dict[str, list[Index]] = {}
        for loop in facts.loops:
            function = project.function(facts, loop) if loop.indexes else None
            if function is None:
                continue
            pages = self.of(function)
            for index in loop.indexes:
                if index.base in pages:
                    for var in identifiers(index.offset):
                        self.by_var.setdefault(var, []).append(index)
        for found in self.by_var.values():
            found.sort(key=lambda i: i.byte)

    def of(self, function: Function) -> set[str]:
        found = self.pages.get(id(function))
        if found is None:
            kinds = ("page*", "folio*")
            found = {var for var, kind in function.pointer_types if kind in kinds}
            self.pages[id(function)] = found
        return found

    def arithmetic(self, loop: Loop, function: Function) -> tuple[int, int, str, str] | None:
        """(line, col, text, pointer) of the first one-step struct page pointer walk in
        the loop."""
        pages = self.of(function)
        steppers = unit_step_vars(loop)
        for step in loop.steps:
            if step.var in pages and step.var in steppers:
                return loop.span.start_line, loop.span.start_col, f"{step.var}{step.op}", step.var
        start, end = loop.body.start_byte, loop.body.end_byte
        first: Index | None = None
        for var in steppers:
            found = self.by_var.get(var, [])
            i = bisect.bisect_left(found, start, key=lambda index: index.byte)
            while i < len(found) and found[i].byte < end and found[i].base not in pages:
                i += 1  # a pointer of another function (runaway recoveries nest them)
            if (
                i < len(found)
                and found[i].byte < end
                and (first is None or found[i].byte < first.byte)
            ):
                first = found[i]
        if first is None:
            return None
        return first.line, first.col, f"{first.base} + {first.offset}", first.base


RULE = PageWalkCrossSection()
