"""A buddy allocator over a layout, exact where holes, nodes and sections matter.

Boot frees memblock's free ranges the way __free_pages_memory() does (naturally aligned
chunks, capped by the largest order and by the range ends), and every free merges with
its buddy the way __free_one_page() does: only with a free buddy of the same order, in
the same zone and node, within one section's memmap unless it is virtually contiguous,
and, from pageblock_order up, never between an isolated and a normal pageblock.
Hole pages are never freed, so no free block can contain one.

Free lists are implicit: a free block is on the list of its first pageblock's type.
"""

from __future__ import annotations

from collections import Counter

from kscan.model.memmap import Memmap
from kscan.model.ranges import PfnRange, align_down, align_up, covers, merged

MOVABLE, UNMOVABLE, RECLAIMABLE, ISOLATE = "movable", "unmovable", "reclaimable", "isolate"
MIGRATETYPES = (UNMOVABLE, MOVABLE, RECLAIMABLE, ISOLATE)
_MERGEABLE = (UNMOVABLE, MOVABLE, RECLAIMABLE)  # migratetype_is_mergeable()


class BuddyError(Exception):
    pass


def aligned_chunks(start: int, end: int, max_order: int) -> list[tuple[int, int]]:
    """[start, end) as (pfn, order) chunks, each naturally aligned and as large as the
    alignment, the end and `max_order` allow (__free_pages_memory())."""
    chunks = []
    while start < end:
        order = max_order if start == 0 else min(max_order, (start & -start).bit_length() - 1)
        while start + (1 << order) > end:
            order -= 1
        chunks.append((start, order))
        start += 1 << order
    return chunks


class Buddy:
    """The allocator right after boot; then alloc(), free() and alloc_contig_range()."""

    def __init__(self, memmap: Memmap) -> None:
        self.memmap = memmap
        self.geometry = memmap.geometry
        self.free_blocks: dict[int, int] = {}  # head pfn -> order
        self.allocated: dict[int, int] = {}  # head pfn -> order
        self.migratetypes: dict[int, str] = {}  # pageblock number -> type, MOVABLE if absent
        for start, end in self._boot_ranges():
            for pfn, order in aligned_chunks(start, end, self.geometry.max_page_order):
                self._free(pfn, order)
        self.boot_free_pages = self.free_pages()

    def _boot_ranges(self) -> list[PfnRange]:
        """memblock's free ranges, cut at zone and node edges, and at section edges
        when the memmap is not virtually contiguous.  With MAX_ORDER within a section
        and aligned zone limits, the kernel never needs these cuts; with a what-if
        MAX_ORDER above the section size, any sane allocator would."""
        cuts = {z.pfns.start for z in self.memmap.zone_spans}
        cuts |= {z.pfns.end for z in self.memmap.zone_spans}
        if not self.geometry.vmemmap:
            section = self.geometry.section_pages
            for r in self.memmap.free:
                cuts |= set(range(align_up(r.start, section), r.end, section))
        pieces = []
        for r in self.memmap.free:
            edges = [r.start, *sorted(c for c in cuts if r.start < c < r.end), r.end]
            pieces += [PfnRange(a, b) for a, b in zip(edges, edges[1:], strict=False)]
        return pieces

    # --- pageblocks ------------------------------------------------------------------

    def migratetype(self, pfn: int) -> str:
        return self.migratetypes.get(pfn >> self.geometry.pageblock_order, MOVABLE)

    def set_migratetype(self, start: int, end: int, migratetype: str) -> None:
        order = self.geometry.pageblock_order
        for block in range(start >> order, align_up(end, 1 << order) >> order):
            self.migratetypes[block] = migratetype

    # --- freeing and merging ---------------------------------------------------------

    def _may_merge(self, pfn: int, buddy: int, order: int) -> bool:
        g, memmap = self.geometry, self.memmap
        if self.free_blocks.get(buddy) != order:
            return False
        if memmap.zone_at(pfn) != memmap.zone_at(buddy):
            return False
        if not g.vmemmap and pfn // g.section_pages != buddy // g.section_pages:
            return False
        if order >= g.pageblock_order:
            mine, theirs = self.migratetype(pfn), self.migratetype(buddy)
            if mine != theirs and not (mine in _MERGEABLE and theirs in _MERGEABLE):
                return False
        return True

    def _free(self, pfn: int, order: int) -> None:
        while order < self.geometry.max_page_order:
            buddy = pfn ^ (1 << order)
            if not self._may_merge(pfn, buddy, order):
                break
            del self.free_blocks[buddy]
            pfn, order = min(pfn, buddy), order + 1
        self.free_blocks[pfn] = order

    def free(self, pfn: int) -> None:
        """Free an allocation made by alloc() or alloc_contig_range(), by its head."""
        order = self.allocated.pop(pfn, None)
        if order is None:
            raise BuddyError(f"pfn {pfn:#x} is not the head of an allocation")
        self._free(pfn, order)

    # --- allocation ------------------------------------------------------------------

    def alloc(self, order: int, migratetype: str = MOVABLE) -> int | None:
        """The head of a free 2^order block, or None.  Prefers the smallest, lowest
        block on the wanted type's list; falls back to other types, claiming whole
        pageblocks of a block it takes; never touches isolated pageblocks."""
        if not 0 <= order <= self.geometry.max_page_order:
            raise BuddyError(f"order {order} outside 0..{self.geometry.max_page_order}")
        candidates = [
            (self.migratetype(pfn) != migratetype, size, pfn)
            for pfn, size in self.free_blocks.items()
            if size >= order and self.migratetype(pfn) != ISOLATE
        ]
        if not candidates:
            return None
        fallback, size, pfn = min(candidates)
        del self.free_blocks[pfn]
        if fallback and size >= self.geometry.pageblock_order:
            self.set_migratetype(pfn, pfn + (1 << size), migratetype)
        while size > order:  # expand(): the upper halves go back
            size -= 1
            self.free_blocks[pfn + (1 << size)] = size
        self.allocated[pfn] = order
        return pfn

    def alloc_contig_range(self, start: int, end: int) -> bool:
        """Take [start, end) as alloc_contig_range() does since 5.19: isolate the
        pageblocks around it, splitting free blocks that straddle the isolated range
        (isolate_single_pageblock()) or the wanted one, check every page in it is free,
        take it, and undo the isolation.  Nothing migrates here, so a page in use makes
        it fail."""
        memmap, g = self.memmap, self.geometry
        wanted = PfnRange(start, end)
        if start >= end or not covers(memmap.online, wanted):
            raise BuddyError(f"{wanted} is not all online RAM")
        if memmap.zone_at(start) != memmap.zone_at(end - 1):
            raise BuddyError(f"{wanted} crosses a zone")
        isolated = PfnRange(align_down(start, g.pageblock_pages), align_up(end, g.pageblock_pages))
        saved = {pfn: self.migratetype(pfn) for pfn in range(*isolated, g.pageblock_pages)}
        for boundary in (*isolated, *wanted):
            self._split_free_at(boundary)
        self.set_migratetype(*isolated, ISOLATE)
        taken = self._free_pages_within(wanted) == wanted.size
        if taken:
            for pfn in self._blocks_in(wanted):
                del self.free_blocks[pfn]
            for pfn, order in aligned_chunks(start, end, g.max_page_order):
                self.allocated[pfn] = order
        for pfn, migratetype in saved.items():
            self.set_migratetype(pfn, pfn + 1, migratetype)
        self._refree(isolated)
        return taken

    def free_contig_range(self, start: int, end: int) -> None:
        for pfn, _ in aligned_chunks(start, end, self.geometry.max_page_order):
            self.free(pfn)

    def _split_free_at(self, boundary: int) -> None:
        """Split the free block straddling `boundary` into aligned pieces on each side."""
        head = next(
            (pfn for pfn, order in self.free_blocks.items() if pfn < boundary < pfn + (1 << order)),
            None,
        )
        if head is None:
            return
        end = head + (1 << self.free_blocks.pop(head))
        for piece in (PfnRange(head, boundary), PfnRange(boundary, end)):
            for pfn, order in aligned_chunks(*piece, self.geometry.max_page_order):
                self.free_blocks[pfn] = order

    def _blocks_in(self, window: PfnRange) -> list[int]:
        return [
            pfn
            for pfn, order in self.free_blocks.items()
            if window.start <= pfn and pfn + (1 << order) <= window.end
        ]

    def _free_pages_within(self, window: PfnRange) -> int:
        return sum(1 << self.free_blocks[pfn] for pfn in self._blocks_in(window))

    def _refree(self, window: PfnRange) -> None:
        """Put the free blocks of `window` back through the merging path, as undoing
        an isolation does, so they join their buddies again."""
        blocks = [(pfn, self.free_blocks.pop(pfn)) for pfn in self._blocks_in(window)]
        for pfn, order in sorted(blocks):
            self._free(pfn, order)

    # --- accounting --------------------------------------------------------------------

    def free_pages(self) -> int:
        return sum(1 << order for order in self.free_blocks.values())

    def allocated_pages(self) -> int:
        return sum(1 << order for order in self.allocated.values())

    def order_counts(self) -> Counter[int]:
        return Counter(self.free_blocks.values())

    def invariant_violations(self) -> list[str]:
        """Everything that must always hold, as messages (empty when sound)."""
        g, memmap = self.geometry, self.memmap
        problems = []
        for pfn, order in sorted(self.free_blocks.items()):
            block = PfnRange(pfn, pfn + (1 << order))
            if pfn % (1 << order) or order > g.max_page_order:
                problems.append(f"free block {block} is misaligned or too large")
            if not covers(memmap.free, block):
                problems.append(f"free block {block} spans a hole or unfreeable pfn")
            if memmap.zone_at(block.start) != memmap.zone_at(block.end - 1):
                problems.append(f"free block {block} crosses a zone or node")
            section = g.section_pages
            if not g.vmemmap and block.start // section != (block.end - 1) // section:
                problems.append(f"free block {block} crosses a section")
        blocks = [
            PfnRange(pfn, pfn + (1 << order))
            for pfn, order in [*self.free_blocks.items(), *self.allocated.items()]
        ]
        if sum(b.size for b in blocks) != sum(r.size for r in merged(blocks)):
            problems.append("free or allocated blocks overlap")
        if self.free_pages() + self.allocated_pages() != self.boot_free_pages:
            problems.append("free + allocated pages differ from what boot freed")
        return problems
