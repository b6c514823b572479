"""A walk validates a block once, then touches every PFN of it unchecked.

What: the validity check is hoisted to block granularity.  An outer loop checks once
per MAX_ORDER block, pageblock or section (or the check runs only when
`IS_ALIGNED(pfn, ...)`), and an inner or later walk calls pfn_to_page() on every PFN
of the block; or a walk bounded by MAX_ORDER_NR_PAGES / pageblock_nr_pages /
PAGES_PER_SECTION runs from a head PFN that was checked once.  This is exactly the
assumption that `pfn_valid_within()` guarded before 5.15: every PFN of a block whose
head is valid has a valid memmap.

Why: with a hole inside a MAX_ORDER block (arm64 NOMAP carve-outs, odd e820 maps) the
assumption failed and walkers such as move_freepages() hit uninitialised struct pages
(6d526ee26ccd, and the 5.15-only crash fixed by a9c38c5d267c / 3de360c3fdb3).  Since
5.15 (859a85ddf90e) pfn_valid() is section-granular and hole pages inside a present
section get an initialised, reserved struct page (0740a50b9baa), so the walk is safe by
design there.  kscan reports it with high severity in a tree that still has
pfn_valid_within() (before 5.15) and with low severity, as "safe by design", in newer
trees, so reviewers see the assumption without being told it is a crash.  It becomes a
bug again if a block can span an absent section (MAX_ORDER above the section size) or
if an architecture brings back a memblock-granular pfn_valid().

Example (the page_owner shape):
    for (; pfn < end_pfn; ) {
        if (!pfn_valid(pfn)) {
            pfn = ALIGN(pfn + 1, MAX_ORDER_NR_PAGES);
            continue;
        }
        block_end_pfn = min(pageblock_end_pfn(pfn), end_pfn);
        for (; pfn < block_end_pfn; pfn++) {
            struct page *page = pfn_to_page(pfn);   /* KS002 */
            ...

Fix: in a pre-5.15 tree, check every PFN with pfn_valid_within(pfn) inside the walk.
In 5.15+ nothing is needed today; keep the block within one section
(`BUILD_BUG_ON(MAX_ORDER_NR_PAGES > PAGES_PER_SECTION)` style) or check each PFN with
pfn_valid() if the walk can cross a section.
"""

from collections.abc import Iterator

from kscan.analysis.project import Project
from kscan.analysis.walks import UNITS, PfnWalkRule, block_provenance, pfn_walks, walk_check_note
from kscan.findings import Finding, Level, Related, Walk

_HOW = {
    "aligned": "validity is checked only at block-aligned PFNs",
    "outer-loop": "validity is checked once per block by the enclosing loop",
    "before-loop": "validity is checked once before the walk",
    "caller": "validity is checked by the caller before the walk",
    None: "walks a whole block from a head PFN without checking the PFNs in between",
}


class PfnWalkBlockHole(PfnWalkRule):
    id = "KS002"
    name = "pfn-walk-block-hole"
    severity = Level.LOW
    confidence = Level.HIGH

    def check(self, project: Project) -> Iterator[Finding]:
        pre_515 = bool(project.tree.holes_in_zone_era)
        for walk in pfn_walks(project):
            if not walk.block_confined:
                continue  # KS001's
            call = walk.access.call
            how = _HOW[walk.check.kind if walk.check else None]
            if pre_515:
                severity = Level.HIGH
                verdict = (
                    "a hole inside the block reaches an uninitialised struct page: "
                    "this tree needs pfn_valid_within() per PFN"
                )
            else:
                severity = Level.LOW
                verdict = (
                    "safe by design since 5.15 (hole pages in a present section are "
                    "initialised); breaks if a block spans an absent section"
                )
            related: tuple[Related, ...] = ()
            if walk.check is not None:
                related = (walk_check_note(walk.check, "the block-level check"),)
            granularity = walk.check.granularity if walk.check else None
            yield self.finding(
                walk.facts,
                call.line,
                call.col,
                walk.loop.function,
                f"{call.name}({call.args[0]}) on every PFN of a block: {how}; {verdict}",
                severity=severity,
                related=related,
                walk=Walk(_reach(walk.extent, granularity), "pfn", granularity),
                provenance=block_provenance(walk, how),
            )


def _reach(extent: str, granularity: str | None) -> str:
    """The unit the walk's bounds keep it in; else the one its check confines it to (the
    model judges the finer of this and the check's granularity)."""
    if extent in UNITS:
        return extent
    return granularity if granularity in ("pageblock", "section") else "block"


RULE = PfnWalkBlockHole()
