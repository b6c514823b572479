"""Origin classes: where a walked PFN range can come from, told by kernel idioms.

Each class names the ranges it covers and the idioms that show one in an expression:
fields of the structures that hold such ranges (`zone->zone_start_pfn`, `cma->base_pfn`,
`mem->start_section_nr`), the helpers and iterators that produce them
(`zone_end_pfn()`, `for_each_mem_pfn_range()`, `page_to_pfn()`, `kstrtoul()`), and calls
made on a range before it is walked (`offline_mem_sections()`, a range validity check).
None of them names the functions kscan reports: a class is recognised wherever its
idiom is, in the walking function or in any caller on the way up.

The verdict each class leads to is the model's business (kscan/model/origins.py):
spans and user input can reach holes and offline or absent sections; the others hold
by a contract the kernel keeps, or (BLOCK) by the design of the memory model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

ZONE_SPAN = "zone-span"
NODE_SPAN = "node-span"
MEMBLOCK_MEMORY = "memblock-memory"
RESERVATION = "reservation"
MEMMAP_INIT = "memmap-init"
ALLOCATED = "allocated"
MEMORY_BLOCK = "memory-block"
ZONE_DEVICE = "zone-device"
USER_INPUT = "user-input"
PAGE_TABLES = "page-tables"
BLOCK = "block"
VALIDATED = "validated"
UNKNOWN = "unknown"

ORIGINS = (
    ZONE_SPAN,
    NODE_SPAN,
    USER_INPUT,
    UNKNOWN,
    BLOCK,
    PAGE_TABLES,
    MEMBLOCK_MEMORY,
    RESERVATION,
    MEMMAP_INIT,
    ALLOCATED,
    MEMORY_BLOCK,
    ZONE_DEVICE,
    VALIDATED,
)
# Ranges that may hold holes, absent or offline sections: nothing promises a memmap.
SPANS = frozenset({ZONE_SPAN, NODE_SPAN, USER_INPUT})


def promise(origin: str) -> int:
    """How little an origin promises about its range: spans 3, unknown 2, a block 1,
    a contract 0.  Where callers disagree the tracer keeps every route; where a range
    is the intersection of several (`min()`, `clamp()`), the best promise bounds it."""
    if origin in SPANS:
        return 3
    return {UNKNOWN: 2, BLOCK: 1}.get(origin, 0)


@dataclass(frozen=True, slots=True)
class Idiom:
    """An origin shown by the text of an expression: where a range starts (`position`)
    or how far it goes (`extent`, a count: `cma->count`, `folio_nr_pages(folio)`)."""

    origin: str
    position: re.Pattern[str] | None
    extent: re.Pattern[str] | None = None


def _either(*alternatives: str) -> re.Pattern[str] | None:
    return re.compile("|".join(alternatives)) if alternatives else None


def _calls(*names: str) -> str:
    return r"\b(?:" + "|".join(names) + r")\s*\("


# Most specific first: an expression can show several (a pageblock of a page's pfn).
IDIOMS = (
    # memmap of device memory: dev_pagemap ranges, the altmap inside them
    Idiom(
        ZONE_DEVICE,
        _either(
            r"\bpgmap\b|\bpagemap\.range\b|\baltmap\b|\bdev_pagemap\b",
            _calls(r"pgmap_\w+", "get_dev_pagemap", r"\w+_devmap", "pfn_t_to_pfn"),
        ),
    ),
    # a memory block (de)activated by hotplug: whole sections, no holes
    Idiom(
        MEMORY_BLOCK,
        _either(r"\bstart_section_nr\b", _calls("section_nr_to_pfn")),
        _either(
            r"\bnr_vmemmap_pages\b",
            _calls("memory_block_size_pages", "memory_block_size_bytes"),
        ),
    ),
    # free-form numbers a user writes: sysfs/debugfs/proc writes, ioctls
    Idiom(
        USER_INPUT,
        _either(
            r"\*\s*ppos\b",
            _calls(r"kstrto\w+", r"simple_strto\w+", "sscanf", "memparse", "get_user"),
            _calls("copy_from_user"),
        ),
    ),
    Idiom(
        MEMBLOCK_MEMORY,
        _either(
            r"\bmemblock\.memory\b",
            _calls(
                "for_each_mem_pfn_range",
                "for_each_mem_range",
                "for_each_mem_region",
                "for_each_free_mem_range",
                "for_each_free_mem_pfn_range_in_zone",
                r"memblock_region_memory_\w+",
                "memblock_start_of_DRAM",
                "memblock_end_of_DRAM",
            ),
        ),
    ),
    Idiom(
        RESERVATION,
        _either(
            r"\bmemblock\.reserved\b|\bcma->base_pfn\b|\brmem->base\b",
            _calls(
                "for_each_reserved_mem_range",
                "for_each_reserved_mem_region",
                r"memblock_region_reserved_\w+",
                r"memblock_(?:phys_)?alloc\w*",
                "cma_get_base",
            ),
        ),
        _either(r"\bcma->count\b|\brmem->size\b", _calls("cma_get_size")),
    ),
    # a pageblock, MAX_ORDER block or section around a pfn: the walk stays inside it
    Idiom(
        BLOCK,
        _either(
            _calls(
                "pageblock_start_pfn",
                "pageblock_end_pfn",
                "pageblock_align",
                "SECTION_ALIGN_UP",
                "SECTION_ALIGN_DOWN",
            )
        ),
        _either(
            r"\b(?:MAX_ORDER_NR_PAGES|pageblock_nr_pages|PAGES_PER_SECTION|PAGES_PER_SUBSECTION)\b"
        ),
    ),
    Idiom(
        ZONE_SPAN,
        _either(r"\bzone_start_pfn\b", _calls("zone_end_pfn")),
        _either(r"\bzone->spanned_pages\b", _calls("zone_spanned_pages")),
    ),
    # a node's span, or all of memory up to its last pfn
    Idiom(
        NODE_SPAN,
        _either(
            r"\bnode_start_pfn\b|\b(?:max_pfn|min_low_pfn|max_low_pfn)\b",
            _calls("pgdat_end_pfn", "node_end_pfn", "node_start_pfn", "get_pfn_range_for_nid"),
        ),
        _either(r"\bnode_spanned_pages\b"),
    ),
    Idiom(
        PAGE_TABLES,
        _either(
            _calls(r"p[4tmgu]d_pfn", "pte_pfn", "swp_offset_pfn", "huge_pte_pfn", "follow_pfn")
        ),
    ),
    # a pfn taken from something the caller holds: a page, a folio, a kernel address
    Idiom(
        ALLOCATED,
        _either(
            r"&\s*\w+->page\b",
            _calls(
                "page_to_pfn",
                "folio_pfn",
                "page_to_phys",
                "folio_page",
                "virt_to_page",
                "virt_to_pfn",
                "virt_to_phys",
                "__pa",
                "__pa_symbol",
                "sym_to_pfn",
                r"alloc_contig_pages\w*",
                "cma_alloc",
                r"alloc_pages\w*",
                r"folio_alloc\w*",
                r"__get_free_pages",
            ),
        ),
        _either(_calls("folio_nr_pages", "compound_nr", "pages_per_huge_page")),
    ),
)


@dataclass(frozen=True, slots=True)
class Holder:
    """A structure that holds a range: its fields that say where the range starts and
    how far it goes."""

    origin: str
    structs: frozenset[str]
    names: frozenset[str]  # what a variable of it is usually called, when its type is unseen
    position: re.Pattern[str]
    extent: re.Pattern[str]


def _holder(origin: str, structs: str, names: str, position: str, extent: str) -> Holder:
    return Holder(
        origin,
        frozenset(structs.split()),
        frozenset(names.split()),
        re.compile(position),
        re.compile(extent),
    )


HOLDERS = (
    _holder(ZONE_SPAN, "zone", "zone", r"zone_start_pfn", r"spanned_pages"),
    _holder(NODE_SPAN, "pglist_data pg_data_t", "pgdat", r"node_start_pfn", r"node_spanned_pages"),
    _holder(RESERVATION, "cma", "cma", r"base_pfn", r"count"),
    _holder(RESERVATION, "reserved_mem", "rmem", r"base", r"size"),
    _holder(MEMBLOCK_MEMORY, "memblock_region", "", r"base", r"size"),
    _holder(MEMORY_BLOCK, "memory_block", "", r"start_section_nr", r"nr_vmemmap_pages"),
    _holder(MEMORY_BLOCK, "memory_notify", "", r"start_pfn", r"nr_pages"),
    _holder(ZONE_DEVICE, "dev_pagemap vmem_altmap", "pgmap altmap", r"\w+", r"$^"),
)
_MEMBER = re.compile(r"\b([A-Za-z_]\w*)\s*(?:->|\.)\s*([A-Za-z_]\w*)")


class Found(NamedTuple):
    origin: str
    evidence: str
    position: bool  # where the range starts; else how far it goes


def idioms_in(text: str, types: dict[str, str]) -> list[Found]:
    """The classes whose idiom the expression shows, where the range starts first;
    `types` maps variables to the structure they point to."""
    found: dict[str, Found] = {}

    def add(origin: str, evidence: str, position: bool) -> None:
        known = found.get(origin)
        if known is None or (position and not known.position):
            found[origin] = Found(origin, evidence, position)

    for var, member in _MEMBER.findall(text):
        struct = types.get(var)
        for holder in HOLDERS:
            if not (struct in holder.structs if struct else var in holder.names):
                continue
            for pattern, position in ((holder.position, True), (holder.extent, False)):
                if pattern.fullmatch(member):
                    add(holder.origin, f"{var}->{member}", position)
    for idiom in IDIOMS:
        for shown_by, position in ((idiom.position, True), (idiom.extent, False)):
            match = shown_by.search(text) if shown_by else None
            if match:
                add(idiom.origin, _evidence(text, match), position)
    return sorted(found.values(), key=lambda f: (not f.position, ORIGINS.index(f.origin)))


def _evidence(text: str, match: re.Match[str]) -> str:
    """The matched idiom, with its argument list when it is a call."""
    if not match.group().endswith("("):
        return match.group().strip()
    return text[match.start() : closing(text, match.end() - 1) + 1]


def closing(text: str, open_: int) -> int:
    """The index of the `)` closing the `(` at open_ (the last index if none does)."""
    depth = 0
    for end in range(open_, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return end
    return len(text) - 1


# Calls made on a range before it is walked or handed on, and what they make of it.
RANGE_CHECKS = frozenset(
    {"walk_system_ram_range", "memblock_is_region_memory", "region_intersects"}
)
SECTION_STATE = re.compile(r"^(?:on|off)line_\w*sections?$")
DEVICE_LOOKUP = frozenset({"get_dev_pagemap"})
# Freeing a page to the allocator: only pages one holds.  (Dropping a reference is
# not: a walk may take one, with get_page_unless_zero(), before it drops it.)
PAGE_RELEASE = re.compile(
    r"^(?:__free_pages?|free_reserved_page|free_highmem_page|memblock_free_pages"
    r"|__free_pages_core)$"
)
# Initialising a struct page: what the memmap initialisers do to every pfn they walk.
PAGE_INITIALISER = re.compile(r"^(?:_*init_\w*page|set_page_links|mm_zero_struct_page)$")
# Ops-table members through which user space hands a kernel function its numbers.
USER_MEMBERS = frozenset(
    {"write", "write_iter", "store", "set", "proc_handler", "unlocked_ioctl", "compat_ioctl"}
)
