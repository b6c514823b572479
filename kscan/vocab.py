"""Kernel vocabulary shared by the fact layer and the rules: what checks validity, what
touches memmap, which macros are attributes.

Names only; which local helpers also validate is decided from their bodies
(see Project.validity_helpers), not listed here.
"""

import re

# MAX_ORDER and its successors, whose meaning depends on the kernel era.
ORDER_NAMES = ("MAX_ORDER", "MAX_PAGE_ORDER", "NR_PAGE_ORDERS")
# The uses the fact layer records: the names above and what is derived from them.
ORDER_FAMILY = (
    *ORDER_NAMES,
    "MAX_ORDER_NR_PAGES",
    "CONFIG_ARCH_FORCE_MAX_ORDER",
    "CONFIG_FORCE_MAX_ZONEORDER",
)

# Calls that establish "this PFN has a valid (initialised, or online) memmap".
VALIDITY_CHECKS = frozenset(
    {
        "pfn_valid",
        "pfn_valid_within",
        "pfn_to_online_page",
        "pageblock_pfn_to_page",
        "__pageblock_pfn_to_page",
        "early_pfn_valid",
        "pfn_in_present_section",
        "online_section_nr",
        "online_section",
        "valid_section",
        "valid_section_nr",
        "present_section_nr",
        "pfn_is_map_memory",
        "memblock_is_map_memory",
        "find_buddy_page_pfn",
    }
)

# Calls that turn a PFN into its struct page / folio: the memmap access itself.
MEMMAP_ACCESSORS = frozenset({"pfn_to_page", "__pfn_to_page", "pfn_folio"})

# Safe ways to step a struct page pointer across a section boundary.
SECTION_SAFE_STEPPERS = frozenset({"nth_page", "folio_page", "pfn_to_page", "page_folio"})

# Iterators whose every PFN, or every yielded range, has a memmap.
VALID_RANGE_ITERATORS = re.compile(
    r"valid|for_each_(?:free_)?mem(?:_pfn)?_range|for_each_memblock|for_each_reserved_mem"
)

# Block-granular quantities: a walk bounded by these stays inside one block.
BLOCK_WORDS = re.compile(
    r"\b(?:MAX_ORDER_NR_PAGES|pageblock_nr_pages|pageblock_end_pfn|pageblock_start_pfn"
    r"|pageblock_order|pageblock_align|pageblock_aligned|PAGES_PER_SECTION"
    r"|PAGES_PER_SUBSECTION|\w*block_(?:start|end)\w*|\w*block_pfn\w*)\b"
    r"|\b1U?L?\s*<<\s*\(?\s*\w*order\b"  # a buddy block: at most one MAX_ORDER block
)
BLOCK_GRANULARITY = (
    ("section", re.compile(r"PAGES_PER_SECTION|PAGES_PER_SUBSECTION|section")),
    ("block", re.compile(r"MAX_ORDER_NR_PAGES|MAX_ORDER|MAX_PAGE_ORDER")),
    ("pageblock", re.compile(r"pageblock|block_")),
)

# A check made only on block-aligned PFNs: `IS_ALIGNED(pfn, X)`, `!(pfn & (X - 1))`.
ALIGNED_TEST = re.compile(
    r"IS_ALIGNED|pageblock_aligned|&\s*\(?\s*(?:MAX_ORDER_NR_PAGES|pageblock_nr_pages"
    r"|PAGES_PER_SECTION)\s*-\s*1|%\s*(?:MAX_ORDER_NR_PAGES|pageblock_nr_pages|PAGES_PER_SECTION)"
)

# Ranges that span a zone or a node: holes and absent sections included.
SPAN_WORDS = re.compile(
    r"zone_start_pfn|zone_end_pfn|node_start_pfn|node_end_pfn|pgdat_end_pfn|spanned_pages"
    r"|\bmax_pfn\b|\bmin_low_pfn\b|\bmax_low_pfn\b|highest_memmap_pfn"
)

# Page counts that can exceed one MAX_ORDER block or one memory section.
# Page counts by how far past one memory section they can reach.  A plain `1 << order`
# is a buddy allocation (order <= MAX_PAGE_ORDER): it always fits in a section.
GIGANTIC_WORDS = (
    "pages_per_huge_page",
    "huge_page_size",
    "huge_page_order",
    "HPAGE_PUD_NR",
    "PUD_ORDER",
    "gigantic",
)
FOLIO_WORDS = ("folio_nr_pages", "folio_size", "folio_order", "compound_nr", "compound_order")
CONTIG_COUNT_WORDS = ("nr_pages", "count", "nr")
# The pages of a MAX_ORDER block: one section's worth at most, as long as mmzone.h says so.
BLOCK_COUNT_WORDS = ("MAX_ORDER_NR_PAGES",)
COUNT_WORDS = (*FOLIO_WORDS, *CONTIG_COUNT_WORDS)
# Code that holds folios or ranges beyond MAX_ORDER: hugetlb, CMA, contig-range code,
# told by its function names (underscore-delimited tokens, so that "contiguous" or
# "dma" do not count) or its file's path.
CONTIG_FUNCTION_WORDS = ("cma_", "_cma", "contig_", "_contig", "hugetlb", "gigantic")
CONTIG_PATH_WORDS = ("cma", "contig", "hugetlb", "gigantic")


def _words(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(words))


GIGANTIC_COUNTS = _words(GIGANTIC_WORDS)
FOLIO_COUNTS = _words(FOLIO_WORDS)
BLOCK_COUNTS = re.compile(r"\bMAX_ORDER_NR_PAGES\b|\b1U?L?\s*<<\s*\(?\s*MAX_(?:PAGE_)?ORDER\b")
CONTIG_COUNTS = re.compile("|".join(rf"\b{w}\b" for w in CONTIG_COUNT_WORDS))


def contig_context(path: str, function: str) -> bool:
    return any(w in function for w in CONTIG_FUNCTION_WORDS) or any(
        w in path for w in CONTIG_PATH_WORDS
    )


IDENT = re.compile(r"[A-Za-z_]\w*")


def identifiers(text: str) -> set[str]:
    return set(IDENT.findall(text))


def block_granularity(text: str) -> str | None:
    """'section' / 'block' / 'pageblock' for the coarsest block quantity named in text."""
    for name, pattern in BLOCK_GRANULARITY:
        if pattern.search(text):
            return name
    return None


# The contiguous-range APIs: callers pick the range, its alignment and its size.  Their
# `_noprof` forms are reached through the aliasing macros (see kscan/callgraph/graph.py).
CONTIG_APIS = frozenset(
    {
        "alloc_contig_range",
        "alloc_contig_pages",
        "cma_alloc",
        "start_isolate_page_range",
        "offline_pages",
    }
)

# Calls that ask the page allocator for a block of a given order.
ORDER_ALLOCATORS = re.compile(
    r"(?:__)?(?:alloc_pages|folio_alloc|get_free_pages|alloc_page_interleave)\w*"
)

# Where allocation requests enter the buddy allocator (hotspot reachability).
ALLOCATOR_ENTRIES = frozenset(
    {
        "__alloc_pages",
        "__alloc_pages_noprof",
        "__free_pages",
        "free_pages",
        "__folio_alloc",
        "__folio_alloc_noprof",
        "alloc_pages_bulk_noprof",
        "__alloc_pages_bulk",
        "rmqueue",
        "__free_one_page",
    }
)


# Attribute and annotation macros, where C has no room for an identifier: the parser
# never sees them (kscan/parse/parser.py), and `__acquires(x)` is no call (kscan/facts/calls.py).
BARE_ATTRIBUTES = [
    "__init",
    "__meminit",
    "__init_memblock",
    "__initdata_memblock",
    "__init_or_module",
    "__ref",
    "__refdata",
    "__must_check",
    "__read_mostly",
    "__ro_after_init",
    "__initdata",
    "__initconst",
    "__meminitdata",
    "__meminitconst",
    "__exit",
    "__exitdata",
    "__always_inline",
    "noinline",
    "__noinline",
    "__cold",
    "__hot",
    "notrace",
    "__maybe_unused",
    "__always_unused",
    "__used",
    "__weak",
    "__sched",
    "__latent_entropy",
    "__user",
    "__percpu",
    "__iomem",
    "__rcu",
    "__force",
    "__bitwise",
    "__kernel",
    "__safe",
    "__private",
    "__noreturn",
    "__visible",
    "asmlinkage",
    "__cpuidle",
    "noinstr",
    "__flatten",
    "__pure",
    "__malloc",
    "__nocfi",
    "__noclone",
    "__no_sanitize_address",
    "__cacheline_aligned",
    "__cacheline_aligned_in_smp",
    "____cacheline_aligned",
    "____cacheline_aligned_in_smp",
    "__page_aligned_bss",
    "__page_aligned_data",
    "__packed",
    "__nostackprotector",
    "__init_refok",
    "__always_used",
]
ATTRIBUTES_WITH_ARGS = [
    "__section",
    "__aligned",
    "__printf",
    "__scanf",
    "__acquires",
    "__releases",
    "__must_hold",
    "__cond_acquires",
    "__alloc_size",
    "__counted_by",
    "__guarded_by",
    "__assume_aligned",
    "__diag_ignore",
    "__nonstring",
]
