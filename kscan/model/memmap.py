"""Which struct pages exist and hold what, per PFN, in the two eras of hole handling.

Before 5.15 (HOLES_IN_ZONE, kernel-history.md A1-A13): architectures with holes inside
MAX_ORDER blocks had a memblock-granular pfn_valid(), and struct pages of holes and NOMAP
memory were left uninitialised (or zeroed, linked to the wrong zone).  Since 5.15 (A12)
pfn_valid() is section-granular, and every hole page of a present section is initialised
and reserved.  In both eras an offline memory block has a poisoned memmap (A7-A9) and an
absent section has none at all.

Everything is precomputed as sorted PFN range lists, so each question is a bisect or a
walk over a handful of ranges.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from kscan.model.geometry import Geometry
from kscan.model.layout import Layout, LayoutError, MemRange
from kscan.model.ranges import (
    PfnRange,
    align_down,
    align_up,
    find,
    intersection,
    merged,
    subtract,
    touches,
)


class PageState(StrEnum):
    ONLINE = "online"  # RAM with an initialised struct page, in an online block
    RESERVED_HOLE = "reserved hole"  # hole or NOMAP page, initialised and PageReserved
    UNINITIALISED = "uninitialised"  # hole or NOMAP page before 5.15
    POISONED = "poisoned"  # page of an offline memory block
    ABSENT = "absent"  # no memmap: the section is not present


@dataclass(frozen=True, slots=True)
class BadRange:
    """PFNs whose struct page must not be read: what they are and in what state."""

    pfns: PfnRange
    state: PageState
    what: str  # "hole", "NOMAP hole", "offline memory block", "absent section"

    def within(self, window: PfnRange) -> BadRange:
        pfns = PfnRange(max(self.pfns.start, window.start), min(self.pfns.end, window.end))
        return BadRange(pfns, self.state, self.what)

    def describe(self, section_pages: int) -> str:
        plural = "s" if self.state is PageState.ABSENT and self.pfns.size > section_pages else ""
        return f"{self.what}{plural} {self.pfns}"


@dataclass(frozen=True, slots=True)
class ZoneSpan:
    node: int
    zone: str
    pfns: PfnRange  # spanned, holes included


def _pfns_inward(layout_ranges: Iterable[MemRange], page_shift: int) -> list[PfnRange]:
    """Whole pages inside each range (how memblock RAM becomes PFNs)."""
    size = 1 << page_shift
    return merged(
        (align_up(r.start, size) >> page_shift, r.end >> page_shift) for r in layout_ranges
    )


def _pfns_outward(layout_ranges: Iterable[MemRange], page_shift: int) -> list[PfnRange]:
    """Every page a range touches (how reservations become PFNs)."""
    size = 1 << page_shift
    return merged(
        (r.start >> page_shift, align_up(r.end, size) >> page_shift) for r in layout_ranges
    )


class Memmap:
    """A layout's memmap under a geometry and an era, as sorted PFN range lists:
    ram, nomap, reserved and offline; present and absent sections; holes (the pfns of
    present sections that are not RAM); online (where a walk may start), free (what
    boot frees), valid (where pfn_valid() is true); bad (what must not be read, with
    what it is) and zone_spans."""

    def __init__(self, geometry: Geometry, layout: Layout, holes_in_zone_era: bool) -> None:
        self.geometry, self.layout, self.holes_in_zone_era = geometry, layout, holes_in_zone_era
        shift, section = geometry.page_shift, geometry.section_pages
        self.ram = _pfns_inward(layout.ram, shift)
        if not self.ram:
            raise LayoutError(layout.source, None, "no whole page of RAM")
        self.nomap = intersection(_pfns_outward(layout.nomap, shift), self.ram)
        self.reserved = intersection(_pfns_outward(layout.reserved, shift), self.ram)
        for block in layout.offline if geometry.sparse else ():
            start, end = _pfns_outward([block], shift)[0]
            if start % section or end % section:
                # Memory blocks are whole sections; so is onlining and offlining.
                raise LayoutError(
                    layout.source,
                    block.line,
                    f"offline range {block} is not whole {geometry.bytes(section)} sections",
                )
        self.offline = _pfns_outward(layout.offline, shift)
        self.span = PfnRange(self.ram[0].start, self.ram[-1].end)
        if geometry.sparse:
            self.present = merged(
                (align_down(start, section), align_up(end, section)) for start, end in self.ram
            )
        else:
            self.present = [self.span]  # FLATMEM: one mem_map from the first to the last pfn
        self.absent = subtract([self.span], self.present)
        self.holes = subtract(self.present, self.ram)
        self.online = subtract(self.ram, merged(self.nomap + self.offline))
        self.free = subtract(self.online, self.reserved)
        # pfn_valid(): memblock-granular on the HOLES_IN_ZONE architectures, else sections.
        self.valid = subtract(self.ram, self.nomap) if holes_in_zone_era else self.present
        # pfn_to_online_page() also asks the subsection map (2 MiB), which boot fills
        # only where memblock has RAM: a subsection of holes in an early section has no
        # online page, though pfn_valid() holds there (pfn_section_valid()).
        sub = geometry.subsection_pages
        self.subsections = (
            intersection(
                merged((align_down(a, sub), align_up(b, sub)) for a, b in self.ram), self.present
            )
            if geometry.sparse
            else self.present
        )
        self.bad = self._bad_ranges()
        self.zone_spans = self._zone_spans()

    def _bad_ranges(self) -> list[BadRange]:
        bad = [BadRange(r, PageState.ABSENT, "absent section") for r in self.absent]
        bad += [BadRange(r, PageState.POISONED, "offline memory block") for r in self.offline]
        if self.holes_in_zone_era:
            bad += [BadRange(r, PageState.UNINITIALISED, "hole") for r in self.holes]
            bad += [BadRange(r, PageState.UNINITIALISED, "NOMAP hole") for r in self.nomap]
        return sorted(bad, key=lambda b: b.pfns)

    def _zone_spans(self) -> list[ZoneSpan]:
        """Each node spans its first to last RAM pfn; its zones cut that span at the
        zone limits, holes included, as zone_spanned_pages_in_node() does."""
        spans = []
        for node, node_range in enumerate(self.layout.node_ranges()):
            ram = intersection(self.ram, _pfns_inward([node_range], self.geometry.page_shift))
            if not ram:
                continue
            for zone, low, high in self.geometry.zone_limits():
                start = min(max(ram[0].start, low), high)
                end = min(max(ram[-1].end, low), high)
                if start < end:
                    spans.append(ZoneSpan(node, zone, PfnRange(start, end)))
        return spans

    # --- per-pfn questions ---------------------------------------------------------

    def state(self, pfn: int) -> PageState:
        if not find(self.present, pfn):
            return PageState.ABSENT
        if find(self.offline, pfn):
            return PageState.POISONED
        if find(self.online, pfn):
            return PageState.ONLINE
        return PageState.UNINITIALISED if self.holes_in_zone_era else PageState.RESERVED_HOLE

    def pfn_valid(self, pfn: int) -> bool:
        """A struct page exists (pfn_valid() of the era)."""
        return find(self.valid, pfn) is not None

    def is_initialised(self, pfn: int) -> bool:
        return self.state(pfn) in (PageState.ONLINE, PageState.RESERVED_HOLE)

    def is_online(self, pfn: int) -> bool:
        """pfn_to_online_page() would return the page."""
        return (
            self.pfn_valid(pfn)
            and find(self.subsections, pfn) is not None
            and find(self.offline, pfn) is None
        )

    def zone_at(self, pfn: int) -> ZoneSpan | None:
        return next((z for z in self.zone_spans if z.pfns.start <= pfn < z.pfns.end), None)

    # --- range questions -----------------------------------------------------------

    def first_bad(self, start: int, end: int) -> BadRange | None:
        """The first PFNs in [start, end) whose struct page must not be read."""
        window = PfnRange(start, end)
        hit = next((b for b in self.bad if b.pfns.overlaps(window)), None)
        return hit.within(window) if hit else None

    def bad_window(
        self,
        granule: int,
        guard: list[PfnRange],
        bad: list[BadRange] | None = None,
        at_head: bool = False,
    ) -> tuple[PfnRange, BadRange] | None:
        """The first `granule`-aligned window that a walk enters and that holds a pfn of
        `bad` (all bad ranges by default).  A walk enters a window holding a pfn of
        `guard`, or with `at_head`, one whose first pfn is in `guard`.  A window wholly
        inside a bad range can only qualify if the first one does, so just the windows
        at each bad range's two ends are looked at."""
        for hit in self.bad if bad is None else bad:
            for pfn in (hit.pfns.start, hit.pfns.end - 1):
                start = align_down(pfn, granule)
                window = PfnRange(start, start + granule)
                entered = find(guard, start) if at_head else touches(guard, window)
                if entered:
                    return window, hit.within(window)
        return None

    def bad_in_zones(self) -> list[tuple[ZoneSpan, BadRange]]:
        """Bad ranges clipped to each zone span, in address order."""
        return [
            (zone, bad.within(zone.pfns))
            for zone in self.zone_spans
            for bad in self.bad
            if bad.pfns.overlaps(zone.pfns)
        ]
