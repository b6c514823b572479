"""pageblock vs section: code that needs a pageblock to fit in a section.

What: a `#define` or a function that relates pageblock_order / pageblock_nr_pages to a
section (PFN_SECTION_SHIFT, PAGES_PER_SECTION, SECTION_SIZE_BITS, the usemap's
SECTION_BLOCKFLAGS_BITS) or to a memory block, so that it only works while a
pageblock is no larger than one; and the definitions that set pageblock_order to the
largest order itself.
- mmzone.h: `SECTION_BLOCKFLAGS_BITS ((1UL << (PFN_SECTION_SHIFT - pageblock_order)) *
  NR_PAGEBLOCK_BITS)`, the size of each section's pageblock flags;
- page_alloc.c pfn_to_bitidx(): `pfn &= (PAGES_PER_SECTION - 1); return (pfn >>
  pageblock_order) * NR_PAGEBLOCK_BITS;`;
- pageblock-flags.h without CONFIG_HUGETLB_PAGE: `#define pageblock_order MAX_PAGE_ORDER`.
A pageblock defined as `min(HUGETLB_PAGE_ORDER, MAX_PAGE_ORDER)` stays at the huge
page order whatever N is, so that definition, and every pageblock-granular walk, is
not listed.

Why: pageblock_order is min(HUGETLB_PAGE_ORDER, largest order) with CONFIG_HUGETLB_PAGE
and the largest order itself without it (pageblock-flags.h).  A kernel built with
hugetlbfs keeps 2 MiB pageblocks at any N; one built without it gets pageblocks of
order N, larger than a section: the usemap shift goes negative and every pageblock's
flags land on bit 0 of its section.  mm/Kconfig already notes that pageblock_order
cannot exceed MAX_PAGE_ORDER; nothing says it must not exceed a section, because the
MAX_ORDER guard made it impossible.

Example (6.12, x86_64, N = 18, CONFIG_HUGETLB_PAGE=n):
    #define SECTION_BLOCKFLAGS_BITS \\
        ((1UL << (PFN_SECTION_SHIFT - pageblock_order)) * NR_PAGEBLOCK_BITS)  /* 15 - 18 */

Fix: cap pageblock_order at the section order (min(MAX_PAGE_ORDER, PFN_SECTION_SHIFT)
without hugetlb), or size and index the usemap per pageblock rather than per section.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kscan.analysis.project import Project
from kscan.discover.prefilter import needs
from kscan.facts.records import Define, FileFacts, NameUse
from kscan.findings import Finding, Level
from kscan.patterns import compiled
from kscan.vocab import identifiers
from kscan.whatif.analysis import WITHOUT_HUGETLB, Analysis
from kscan.whatif.orders import LARGEST_NAMES
from kscan.whatif.target import evaluate

PAGEBLOCK_NAMES = frozenset(
    {
        "pageblock_order",
        "pageblock_nr_pages",
        "pageblock_aligned",
        "pageblock_align",
        "pageblock_start_pfn",
        "pageblock_end_pfn",
    }
)
SECTION_NAMES = frozenset(
    {
        "PFN_SECTION_SHIFT",
        "PAGES_PER_SECTION",
        "SECTION_SIZE_BITS",
        "PA_SECTION_SHIFT",
        "SECTION_BLOCKFLAGS_BITS",
        "PAGES_PER_SUBSECTION",
        "memory_block_size_bytes",
        "MIN_MEMORY_BLOCK_SIZE",
    }
)
# `pfn &= (PAGES_PER_SECTION - 1)`: a variable made a pfn's offset in its section
_SECTION_MASKED = re.compile(r"\s*(\w+)\s*&=\s*\(?\s*PAGES_PER_SECTION\s*-\s*1")


class PageblockVsSection(Analysis):
    id = "WI4"
    name = "pageblock-vs-section"
    severity = Level.MEDIUM
    confidence = Level.MEDIUM
    needs = (needs(PAGEBLOCK_NAMES, SECTION_NAMES), needs(["pageblock_order"], LARGEST_NAMES))
    fix = (
        "cap pageblock_order at the section order when it is the largest order, or index "
        "pageblock flags per pageblock rather than per section"
    )

    def sites(self, project: Project) -> Iterator[Finding]:
        for facts, define in self.defines(project):
            names = identifiers(define.value) | {define.name}
            if names & PAGEBLOCK_NAMES and names & SECTION_NAMES:
                if self.claim_define(facts, define):
                    text = f"#define {define.name} {define.value}"
                    yield self._derived(facts, define.line, None, text)
            elif _is_the_largest(define) and self.claim_define(facts, define):
                yield self._largest(facts, define)
        for facts in self.files(project):
            yield from self._functions(facts)

    def _functions(self, facts: FileFacts) -> Iterator[Finding]:
        """In a function: a pageblock and a section quantity in one statement, or a PFN's
        offset in its section (`pfn &= PAGES_PER_SECTION - 1`) cut into pageblocks."""
        for fn in facts.functions:
            uses = facts.uses_in(fn.span)
            for use in uses:
                if use.name in LARGEST_NAMES and "pageblock_order" in use.parent:
                    self.context.claim(facts.path, use.byte)  # pageblock == largest: exact
            pageblock = [u for u in uses if u.name in PAGEBLOCK_NAMES]
            section = [u for u in uses if u.name in SECTION_NAMES]
            related = _same_statement(pageblock, section) or _offset_in_section(pageblock, section)
            if related:
                first = min(related, key=lambda u: u.byte)
                text = " ... ".join(dict.fromkeys(u.context for u in related))
                yield self._derived(facts, first.line, fn.name, text)

    def _derived(self, facts: FileFacts, line: int, function: str | None, text: str) -> Finding:
        values = self.target.values(hugetlb=False)
        pageblock, section = values["pageblock_order"], values["PFN_SECTION_SHIFT"]
        shift = evaluate("PFN_SECTION_SHIFT - pageblock_order", values)
        return self.site(
            facts,
            line,
            1,
            function,
            f"`{_cut(text)}` relates pageblocks to sections and needs pageblock_order <= "
            f"PFN_SECTION_SHIFT; without CONFIG_HUGETLB_PAGE pageblock_order is N = {pageblock} "
            f"against PFN_SECTION_SHIFT {section} (a shift of {shift})",
            WITHOUT_HUGETLB,
        )

    def _largest(self, facts: FileFacts, define: Define) -> Finding:
        values = self.target.values(hugetlb=False)
        return self.site(
            facts,
            define.line,
            1,
            None,
            f"`#define pageblock_order {define.value}`: without CONFIG_HUGETLB_PAGE a pageblock "
            f"is a block of the largest order, {self.target.block()}, larger than a section "
            f"(order {values['PFN_SECTION_SHIFT']})",
            WITHOUT_HUGETLB,
        )


def _is_the_largest(define: Define) -> bool:
    """`#define pageblock_order MAX_PAGE_ORDER`: a pageblock is the largest block."""
    names = identifiers(define.value)
    return define.name == "pageblock_order" and bool(names) and names <= LARGEST_NAMES


def _same_statement(pageblock: list[NameUse], section: list[NameUse]) -> list[NameUse] | None:
    for p in pageblock:
        for s in section:
            if p.context == s.context:
                return [s, p]
    return None


def _offset_in_section(pageblock: list[NameUse], section: list[NameUse]) -> list[NameUse] | None:
    """`pfn &= (PAGES_PER_SECTION-1); ... pfn >> pageblock_order`."""
    for s in section:
        match = _SECTION_MASKED.match(s.context)
        if match is None:
            continue
        var = match[1]
        for p in pageblock:
            if p.byte > s.byte and compiled(
                rf"\b{var}\s*(?:>>\s*pageblock_order|/\s*pageblock_nr_pages)"
            ).search(p.context):
                return [s, p]
    return None


def _cut(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
