"""Memory geometry: page size, buddy orders, pageblocks, sections, memory model, zones.

MAX_ORDER changed meaning twice (kernel-history.md B2, B8):
  before 6.4   MAX_ORDER is exclusive   largest order = MAX_ORDER - 1
  6.4 .. 6.7   MAX_ORDER is inclusive   largest order = MAX_ORDER
  6.8+         MAX_PAGE_ORDER           largest order = MAX_PAGE_ORDER
so a Geometry stores only the unambiguous largest order (`max_page_order`) and converts
from and to the macro under an explicit meaning.  The built-in table holds 6.12 values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

MaxOrderMeaning = Literal["exclusive", "inclusive", "inclusive-renamed"]
MAX_ORDER_MEANINGS: tuple[MaxOrderMeaning, ...] = ("exclusive", "inclusive", "inclusive-renamed")

MEMORY_MODELS = ("FLATMEM", "SPARSEMEM", "SPARSEMEM_VMEMMAP")

# A zone's upper limit for the last zone: beyond any physical address.
NO_LIMIT = 1 << 64

# SUBSECTION_SHIFT is 21 on every architecture: hotplug and pfn_valid() of
# hot-added memory work at 2 MiB granularity inside a section.
SUBSECTION_SHIFT = 21


def largest_order(max_order: int, meaning: MaxOrderMeaning) -> int:
    """The largest valid buddy order that the macro value `max_order` names."""
    if meaning not in MAX_ORDER_MEANINGS:
        raise ValueError(f"unknown MAX_ORDER meaning {meaning!r}")
    return max_order - 1 if meaning == "exclusive" else max_order


_UNITS = (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10), ("B", 0))


def fmt_size(nbytes: int) -> str:
    """Exact when a unit gives a short whole number ("4 MiB", "1536 MiB", "4097 B"),
    else to one decimal ("15.7 GiB")."""
    if nbytes == 0:
        return "0 B"
    for unit, shift in _UNITS:
        if nbytes % (1 << shift) == 0 and 0 < nbytes >> shift < 10000:
            return f"{nbytes >> shift} {unit}"
    unit, shift = next((u, s) for u, s in _UNITS if nbytes >= 1 << s)
    return f"{nbytes / (1 << shift):.1f} {unit}"


@dataclass(frozen=True, slots=True)
class Geometry:
    name: str  # preset name, e.g. "arm64-4k"
    title: str  # for people, e.g. "arm64 4K"
    arch: str
    page_shift: int
    max_page_order: int  # largest buddy order, inclusive (MAX_PAGE_ORDER)
    pmd_order: int  # order of a PMD-mapped huge page (HUGETLB_PAGE_ORDER)
    gigantic_order: int  # order of the largest gigantic (PUD or contiguous-PMD) page
    section_size_bits: int
    memory_model: str
    zones: tuple[tuple[str, int], ...]  # (name, end address), ascending; last ends at NO_LIMIT
    max_order_range: tuple[int, int] | None = None  # Kconfig range, as largest orders
    source: str = "built-in table (6.12)"

    def __post_init__(self) -> None:
        if self.memory_model not in MEMORY_MODELS:
            raise ValueError(f"unknown memory model {self.memory_model!r}")
        if self.max_page_order < 0 or self.section_size_bits < self.page_shift:
            raise ValueError(f"{self.name}: impossible geometry")

    @property
    def page_size(self) -> int:
        return 1 << self.page_shift

    @property
    def pageblock_order(self) -> int:
        # pageblock-flags.h: min(HUGETLB_PAGE_ORDER, MAX_PAGE_ORDER) since 5.18 (B10).
        return min(self.pmd_order, self.max_page_order)

    @property
    def max_order_pages(self) -> int:
        """MAX_ORDER_NR_PAGES: pages in the largest buddy block."""
        return 1 << self.max_page_order

    @property
    def pageblock_pages(self) -> int:
        return 1 << self.pageblock_order

    @property
    def section_pages(self) -> int:
        return 1 << (self.section_size_bits - self.page_shift)

    @property
    def subsection_pages(self) -> int:
        return 1 << (SUBSECTION_SHIFT - self.page_shift)

    @property
    def sparse(self) -> bool:
        return self.memory_model != "FLATMEM"

    @property
    def vmemmap(self) -> bool:
        return self.memory_model == "SPARSEMEM_VMEMMAP"

    @property
    def block_exceeds_section(self) -> bool:
        """What mmzone.h's #error forbids: a MAX_ORDER block larger than a section."""
        return self.sparse and self.max_order_pages > self.section_pages

    def bytes(self, pages: int) -> str:
        return fmt_size(pages << self.page_shift)

    def order_size(self, order: int) -> str:
        return fmt_size(self.page_size << order)

    def zone_limits(self) -> list[tuple[str, int, int]]:
        """(name, first pfn, end pfn) of each zone's possible range."""
        out, low = [], 0
        for name, end in self.zones:
            out.append((name, low, end >> self.page_shift))
            low = end >> self.page_shift
        return out

    def max_order_macro(self, meaning: MaxOrderMeaning) -> tuple[str, int]:
        """The macro and its value that name this largest order under `meaning`."""
        if meaning == "exclusive":
            return "MAX_ORDER", self.max_page_order + 1
        return ("MAX_ORDER" if meaning == "inclusive" else "MAX_PAGE_ORDER"), self.max_page_order

    def with_max_page_order(self, order: int) -> Geometry:
        return replace(
            self,
            name=f"{self.name}:max-order-{order}",
            title=f"{self.title}, max order {order}",
            max_page_order=order,
        )

    def with_max_order(self, value: int, meaning: MaxOrderMeaning) -> Geometry:
        return self.with_max_page_order(largest_order(value, meaning))

    def with_memory_model(self, model: str) -> Geometry:
        return replace(
            self,
            name=f"{self.name}:{model.removeprefix('SPARSEMEM_').lower()}",
            title=f"{self.title} {model}",
            memory_model=model,
        )


_GiB = 1 << 30


def _vmemmap_preset(name: str, title: str, arch: str, **sizes: Any) -> Geometry:
    return Geometry(name=name, title=title, arch=arch, memory_model="SPARSEMEM_VMEMMAP", **sizes)


_ARM64_ZONES = (("DMA", 4 * _GiB), ("Normal", NO_LIMIT))

# fmt: off
PRESETS: dict[str, Geometry] = {
    g.name: g
    for g in (
        _vmemmap_preset(
            "x86_64", "x86_64", "x86",
            page_shift=12, max_page_order=10, pmd_order=9, gigantic_order=18,
            section_size_bits=27,
            zones=(("DMA", 16 << 20), ("DMA32", 4 * _GiB), ("Normal", NO_LIMIT)),
        ),
        # arm64's ZONE_DMA covers 32-bit addresses unless firmware says less.  With 16K
        # and 64K pages the largest hugetlb size is a contiguous-PMD mapping.
        _vmemmap_preset(
            "arm64-4k", "arm64 4K", "arm64",
            page_shift=12, max_page_order=10, pmd_order=9, gigantic_order=18,
            section_size_bits=27, zones=_ARM64_ZONES,
        ),
        _vmemmap_preset(
            "arm64-16k", "arm64 16K", "arm64",
            page_shift=14, max_page_order=11, pmd_order=11, gigantic_order=16,
            section_size_bits=27, zones=_ARM64_ZONES,
        ),
        _vmemmap_preset(
            "arm64-64k", "arm64 64K", "arm64",
            page_shift=16, max_page_order=13, pmd_order=13, gigantic_order=18,
            section_size_bits=29, zones=_ARM64_ZONES,
        ),
        # Book3S-64 with the radix MMU: 2 MiB PMD pages, 1 GiB PUD pages.
        _vmemmap_preset(
            "ppc64", "ppc64 64K", "powerpc",
            page_shift=16, max_page_order=8, pmd_order=5, gigantic_order=14,
            section_size_bits=24, zones=(("Normal", NO_LIMIT),),
        ),
        # Book3S-64 with 4K pages: the largest buddy block is a whole 16 MiB section.
        _vmemmap_preset(
            "ppc64-4k", "ppc64 4K", "powerpc",
            page_shift=12, max_page_order=12, pmd_order=9, gigantic_order=18,
            section_size_bits=24, zones=(("Normal", NO_LIMIT),),
        ),
        # s390 segments are 1 MiB, region-third entries 2 GiB; ZONE_DMA is 31-bit.
        _vmemmap_preset(
            "s390", "s390", "s390",
            page_shift=12, max_page_order=10, pmd_order=8, gigantic_order=19,
            section_size_bits=28, zones=(("DMA", 2 * _GiB), ("Normal", NO_LIMIT)),
        ),
        _vmemmap_preset(
            "riscv", "riscv64", "riscv",
            page_shift=12, max_page_order=10, pmd_order=9, gigantic_order=18,
            section_size_bits=27, zones=(("DMA32", 4 * _GiB), ("Normal", NO_LIMIT)),
        ),
    )
}
# fmt: on

_ALIASES = {"arm64": "arm64-4k", "riscv64": "riscv", "ppc64le": "ppc64", "x86-64": "x86_64"}


def preset(spec: str, presets: dict[str, Geometry] | None = None) -> Geometry:
    """A preset by name, optionally with another memory model: "x86_64:sparsemem"."""
    table = PRESETS if presets is None else presets
    name, _, model = spec.strip().partition(":")
    name = _ALIASES.get(name, name)
    if name not in table:
        raise ValueError(
            f"unknown preset {name!r} (known: {', '.join(table)}; each may name another "
            "memory model, :flatmem, :sparsemem or :vmemmap, e.g. x86_64:sparsemem)"
        )
    geometry = table[name]
    if model:
        wanted = model.upper().replace("-", "_")
        wanted = "SPARSEMEM_VMEMMAP" if wanted == "VMEMMAP" else wanted
        if wanted not in MEMORY_MODELS:
            raise ValueError(f"unknown memory model {model!r} (flatmem, sparsemem, vmemmap)")
        if wanted != geometry.memory_model:
            geometry = geometry.with_memory_model(wanted)
    return geometry
