"""A toy geometry small enough to reason about page by page, and layouts in PFNs."""

from __future__ import annotations

from kscan.model.geometry import NO_LIMIT, Geometry
from kscan.model.layout import Layout, MemRange

# 4 KiB pages, blocks of 4 pages (order 2), pageblocks of 2, sections of 16 pages.
TOY = Geometry(
    name="toy",
    title="toy",
    arch="toy",
    page_shift=12,
    max_page_order=2,
    pmd_order=1,
    gigantic_order=6,
    section_size_bits=16,
    memory_model="SPARSEMEM_VMEMMAP",
    zones=(("DMA", 32 << 12), ("Normal", NO_LIMIT)),
)


def pages(*ranges: tuple[int, int]) -> tuple[MemRange, ...]:
    """Byte ranges from (first pfn, end pfn) pairs of the toy's 4 KiB pages."""
    return tuple(MemRange(start << 12, end << 12) for start, end in ranges)


def toy_layout(ram, nomap=(), reserved=(), offline=(), nodes=()) -> Layout:
    return Layout(
        pages(*ram),
        pages(*nomap),
        pages(*reserved),
        pages(*offline),
        pages(*nodes),
        name="toy layout",
    )
