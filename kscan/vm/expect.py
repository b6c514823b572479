"""What the model says the booted kernel must show, for a layout and a kernel version.

Everything is computed from kscan.model's Memmap and Buddy on the layout as the kernel
keeps it: x86 takes the first page and 640 KiB-1 MiB out of its e820 RAM before
memblock sees it (trim_bios_range()), so the model does the same, and the report
names what that moved.  The rest (zone spans, present pages, sections, pageblocks,
free blocks) is the model's own answer; the functions below only put it in the
units the kernel prints, following the kernel code each one names.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from kscan.model.buddy import Buddy
from kscan.model.context import ModelContext
from kscan.model.geometry import fmt_size
from kscan.model.layout import Layout, MemRange
from kscan.model.memmap import ZoneSpan
from kscan.model.ranges import PfnRange, align_down, clipped, merged, subtract

_PAGE = 4096
# arch/x86/kernel/setup.c: trim_bios_range().
X86_TRIMS = (
    (PfnRange(0, _PAGE), "the first page, which belongs to the BIOS"),
    (PfnRange(0xA0000, 0x100000), "640 KiB to 1 MiB, the legacy BIOS area"),
)


@dataclass(frozen=True, slots=True)
class MapEdit:
    ram: MemRange  # RAM the kernel took out of the layout, or added to it
    why: str

    def __str__(self) -> str:
        return f"RAM {self.ram} ({fmt_size(self.ram.end - self.ram.start)}): {self.why}"


def as_x86_keeps(layout: Layout) -> tuple[Layout, list[MapEdit]]:
    """The layout after trim_bios_range(), and what that took."""
    ram = merged(r.span for r in layout.ram)
    trims = [
        MapEdit(MemRange(*piece), f"x86 keeps {why} (trim_bios_range())")
        for cut, why in X86_TRIMS
        for piece in clipped(ram, cut)
    ]
    kept = subtract(ram, [t.ram.span for t in trims])
    if not trims:
        return layout, []
    return Layout(tuple(MemRange(*r) for r in kept), name=layout.name, source=layout.source), trims


# e820_add_kernel_range(): the kernel image was loaded where the map has no RAM.
IMAGE_NOT_RAM = ".text .data .bss are not marked as E820_TYPE_RAM!"


def with_kernel_image(layout: Layout, image_ram: MemRange) -> tuple[Layout, list[MapEdit]]:
    """The layout plus the RAM the kernel added for its own image (`image_ram`: the
    System RAM range holding the kernel's code, as /proc/iomem shows it)."""
    ram = merged(r.span for r in layout.ram)
    added = subtract([image_ram.span], ram)
    if not added:
        return layout, []
    edits = [
        MapEdit(MemRange(*r), "the kernel added its own image as RAM (e820_add_kernel_range())")
        for r in added
    ]
    kept = merged([*ram, *added])
    return Layout(tuple(MemRange(*r) for r in kept), name=layout.name, source=layout.source), edits


@dataclass(frozen=True, slots=True)
class ZoneExpect:
    node: int
    zone: str
    start_pfn: int
    spanned: int
    present: int


def zones(ctx: ModelContext) -> list[ZoneExpect]:
    """Each zone's span and its RAM pages (zone_spanned_pages_in_node(),
    zone_absent_pages_in_node())."""
    memmap = ctx.memmap
    return [
        ZoneExpect(
            z.node,
            z.zone,
            z.pfns.start,
            z.pfns.size,
            sum(r.size for r in clipped(memmap.ram, z.pfns)),
        )
        for z in memmap.zone_spans
    ]


def memory_blocks(ctx: ModelContext, block_bytes: int) -> dict[int, tuple[str, str]]:
    """Block index -> (state, valid_zones) for every block holding a present section
    (memory_dev_init()).  An online block reads as its zone, or "none" when zone spans
    of two zones meet inside it (early_node_zone_for_memory_block())."""
    memmap, block = ctx.memmap, block_bytes >> ctx.geometry.page_shift
    out = {}
    for present in memmap.present:
        for head in range(align_down(present.start, block), present.end, block):
            window = PfnRange(head, head + block)
            offline = clipped(memmap.offline, window) == [window]
            spans = [z.zone for z in memmap.zone_spans if z.pfns.overlaps(window)]
            zone = spans[0] if len(spans) == 1 else "none"
            out[head // block] = ("offline", zone) if offline else ("online", zone)
    return out


def unavailable_ranges(ctx: ModelContext) -> list[tuple[int, str, int]]:
    """(node, zone, pages) as memmap_init() reports holes it initialises: a hole goes to
    the zone of the RAM after it; the tail of the last section goes to the last zone;
    pageblocks of absent sections are skipped (init_unavailable_range())."""
    memmap = ctx.memmap
    section = ctx.geometry.section_pages
    out: list[tuple[int, str, int]] = []
    hole_start, last = 0, None
    for ram in memmap.ram:
        for z in memmap.zone_spans:
            piece = PfnRange(max(ram.start, z.pfns.start), min(ram.end, z.pfns.end))
            if piece.start >= piece.end:
                continue
            _report_hole(out, memmap.present, PfnRange(hole_start, piece.start), z)
            hole_start, last = piece.end, z
    if last is not None:
        tail_end = -(-memmap.ram[-1].end // section) * section
        _report_hole(out, memmap.present, PfnRange(hole_start, tail_end), last)
    return out


def _report_hole(
    out: list[tuple[int, str, int]], present: list[PfnRange], hole: PfnRange, zone: ZoneSpan
) -> None:
    if hole.start < hole.end:
        pages = sum(r.size for r in clipped(present, hole))
        if pages:
            out.append((zone.node, zone.zone, pages))


def pageblocks(ctx: ModelContext, zone: ZoneSpan) -> int:
    """Pageblocks /proc/pagetypeinfo counts for a zone: every pageblock_nr_pages from the
    zone's first pfn whose page is online and in the zone
    (pagetypeinfo_showblockcount_print(), through pfn_to_online_page())."""
    memmap, step = ctx.memmap, ctx.geometry.pageblock_pages
    return sum(
        1
        for pfn in range(zone.pfns.start, zone.pfns.end, step)
        if memmap.is_online(pfn) and memmap.zone_at(pfn) == zone
    )


def whole_free_blocks(ctx: ModelContext) -> Counter[tuple[int, str]]:
    """(node, zone) -> MAX_ORDER blocks that boot can free whole: the most free blocks
    of the largest order the zone can ever have, whatever the kernel allocates."""
    buddy = Buddy(ctx.memmap)
    top = ctx.geometry.max_page_order
    counts: Counter[tuple[int, str]] = Counter()
    for pfn, order in buddy.free_blocks.items():
        if order == top:
            zone = ctx.memmap.zone_at(pfn)
            # Zone spans miss at most a page where two nodes meet mid-page: never a MAX_ORDER block.
            assert zone is not None, f"free order-{top} block at {pfn:#x} is in no zone"
            counts[zone.node, zone.zone] += 1
    return counts
