"""A PFN walk turns every PFN of a range into a struct page without checking it.

What: a loop advances a PFN one at a time (`pfn++`, `pfn += 1`, `pfn_to_page(start + i)`
with `i++`; `for`, `while` or `do`) and calls pfn_to_page() / pfn_folio() on it, with no
validity check that dominates the access inside the loop: no `pfn_valid()`,
`pfn_to_online_page()`, `pageblock_pfn_to_page()` or a local helper that returns NULL
for invalid PFNs, in an enclosing `if`, a guarded `continue`/`break`, or the loop
condition.  The range is not confined to one block: a zone or node span, or a range
handed in by the caller.

Why: a zone's span contains holes; a range can cross a memory section that is absent
or offline.  pfn_to_page() on such a PFN computes an address in a memmap that does not
exist (SPARSEMEM without the section) or holds poisoned, never-initialised struct
pages (offline memory).  Upstream fixed this class again and again: compaction's cached
scanner PFNs (e577c8b64d58), page_owner's /proc/pagetypeinfo walk (a26ee565b6cd),
gigantic-page range checks (f231fe4235e2), memory_failure() and the hotplug span
shrinkers (96c804a6ae8c, 00d6c019b5bc).  A zone-span walk is reported with high
severity (a span that only caps the walk, `min(max_pfn, start + n)`, does not make it
one); a walk over a caller's range with medium severity, because it is safe when
every caller passes memory that is known to have a memmap.  The model then judges the
walk by where its range comes from (kscan/analysis/provenance/): a zone or node span or a pfn
from user space breaks; memblock memory, a reservation, an allocation, a memory block,
ZONE_DEVICE or a memmap initialiser is safe by contract.

Example:
    for (pfn = zone->zone_start_pfn; pfn < zone_end_pfn(zone); pfn++) {
        struct page *page = pfn_to_page(pfn);   /* KS001 */
        if (PageReserved(page))
            count++;
    }

Fix: check each PFN, or skip invalid sections wholesale:
    for (pfn = zone->zone_start_pfn; pfn < zone_end_pfn(zone); pfn++) {
        struct page *page = pfn_to_online_page(pfn);
        if (!page)
            continue;
        ...
    }
Use pfn_to_online_page() when offline memory must be skipped, pfn_valid() when only
the memmap's existence matters, pageblock_pfn_to_page() for pageblock strides.
"""

from collections.abc import Iterator

from kscan.analysis.project import Project
from kscan.analysis.walks import PfnWalkRule, pfn_walks, provenance, walk_check_note
from kscan.findings import Finding, Level, Related, Walk

_BY_EXTENT = {
    "zone-span": (
        Level.HIGH,
        Level.HIGH,
        "walks a zone/node span, holes and absent sections included",
    ),
    "caller-range": (Level.MEDIUM, Level.MEDIUM, "walks a caller-supplied range"),
    "unknown": (Level.MEDIUM, Level.LOW, "walks a range of unknown extent"),
}


class PfnWalkUnchecked(PfnWalkRule):
    id = "KS001"
    name = "pfn-walk-unchecked"
    severity = Level.HIGH
    confidence = Level.MEDIUM

    def check(self, project: Project) -> Iterator[Finding]:
        for walk in pfn_walks(project):
            if walk.block_confined:
                continue  # KS002's
            severity, confidence, what = _BY_EXTENT[walk.extent]
            call = walk.access.call
            message = (
                f"{call.name}({call.args[0]}) on every PFN with no validity check: {what}; "
                "a hole or an absent/offline section there has no initialised memmap"
            )
            related: tuple[Related, ...] = ()
            if walk.check is not None:
                related = (
                    walk_check_note(walk.check, "only the start of the range is checked here"),
                )
            yield self.finding(
                walk.facts,
                call.line,
                call.col,
                walk.loop.function,
                message,
                severity=severity,
                confidence=confidence,
                related=related,
                walk=Walk(walk.extent, "pfn", None),
                provenance=provenance(project, walk),
            )


RULE = PfnWalkUnchecked()
