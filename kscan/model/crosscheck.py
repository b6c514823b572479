"""Judge a finding against the model: `breaks` with a concrete witness, `safe-by-design`
with the reason, or `unknown`.

A walk faces two hazards.  Contents: a struct page it reads may be uninitialised (a
hole before 5.15), poisoned (an offline block) or missing (an absent section).
Contiguity: `page + n` is only valid within one section's memmap unless the memmap is
virtually contiguous (SPARSEMEM_VMEMMAP) or one array (FLATMEM).  Both are answered
from precomputed ranges, and each walk shape is judged once per context.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kscan.findings import Level, Verdict, Walk
from kscan.model.context import ModelContext
from kscan.model.geometry import Geometry, fmt_size
from kscan.model.memmap import BadRange, PageState, ZoneSpan
from kscan.model.ranges import PfnRange, align_up

BREAKS, SAFE, UNKNOWN = "breaks", "safe-by-design", "unknown"
SAFE_CONTRACT = "safe-by-contract"  # judged by where the range comes from (origins.py)

# Extents that start from a validated, online head and stay inside one unit.
_UNITS = {"block": "MAX_ORDER block", "pageblock": "pageblock", "section": "section"}

_READS = {
    PageState.UNINITIALISED: "reads an uninitialised struct page",
    PageState.POISONED: "reads a poisoned struct page",
    PageState.ABSENT: "finds no memmap behind it",
}


def verdict_for_walk(walk: Walk, model: ModelContext) -> Verdict:
    """The model's verdict on a walk; a context judges each distinct Walk once."""
    verdict = model.verdicts.get(walk)
    if verdict is None:
        verdict = model.verdicts[walk] = _judge(walk, model)
    return verdict


def _judge(walk: Walk, model: ModelContext) -> Verdict:
    if walk.extent not in (*_UNITS, "zone-span", "caller-range", "huge-page", "folio"):
        return Verdict(UNKNOWN, model.preset, "the walk's extent is unknown, so nothing bounds it")
    judged = [_contents(walk, model)]
    if walk.unit == "page":
        judged.append(_contiguity(walk, model))
    for kind in (BREAKS, UNKNOWN):
        reason = next((reason for k, reason in judged if k == kind), None)
        if reason:
            return Verdict(kind, model.preset, reason)
    return Verdict(SAFE, model.preset, "; ".join(reason for _, reason in judged))


def _unit_pages(unit: str, geometry: Geometry) -> int:
    return {
        "block": geometry.max_order_pages,
        "pageblock": geometry.pageblock_pages,
        "section": geometry.section_pages,
    }[unit]


def _checked_unit(walk: Walk, geometry: Geometry) -> str | None:
    """The granularity at which the walk is (re)validated: the finer of its extent
    and its check, for the extents that have one."""
    units = [u for u in (walk.extent, walk.checked_at) if u in _UNITS]
    return min(units, key=lambda u: _unit_pages(u, geometry), default=None)


def witness(model: ModelContext, what: str, bad: BadRange) -> str:
    return f"{model.title}, {what}; pfn_to_page() at {bad.pfns.start:#x} {_READS[bad.state]}"


# --- contents --------------------------------------------------------------------------


def _contents(walk: Walk, model: ModelContext) -> tuple[str, str]:
    if walk.extent in ("huge-page", "folio") or (
        walk.extent == "caller-range" and walk.unit == "page"
    ):
        # Handed a struct page, the walk covers an allocation: all of it is RAM.
        return SAFE, "the pages belong to one allocation, so every struct page is initialised"
    if walk.extent in _UNITS:
        return _contents_of_unit(walk, model)
    return _contents_of_span(walk, model)


def _contents_of_unit(walk: Walk, model: ModelContext) -> tuple[str, str]:
    g, memmap = model.geometry, model.memmap
    unit = _checked_unit(walk, g)
    assert unit is not None  # the walk's extent is a unit (see _contents)
    pages, label = _unit_pages(unit, g), _UNITS[unit]
    size, section_size = g.bytes(pages), g.bytes(g.section_pages)
    found = memmap.bad_window(pages, memmap.online)
    if found:
        window, bad = found
        what = f"{label} {window} holds {bad.describe(g.section_pages)}"
        return BREAKS, witness(model, what, bad)
    if model.holes_in_zone_era:
        return UNKNOWN, (
            f"before 5.15 a hole inside a {label} leaves uninitialised struct pages; "
            f"layout '{model.layout.name}' has none"
        )
    if not g.sparse:
        return SAFE, "FLATMEM: mem_map covers every pfn and hole pages are initialised (5.15+)"
    if pages > g.section_pages:
        return UNKNOWN, (
            f"a {label} ({size}) is larger than a section ({section_size}) "
            f"and can span an absent or offline one; layout '{model.layout.name}' has none"
        )
    if unit == "section":
        stays = "a walk of one section stays inside it"
    elif pages == g.section_pages:
        stays = f"a {label} ({size}) is exactly one section"
    else:
        stays = f"a {label} ({size}) never leaves its section ({section_size})"
    return SAFE, (
        "since 5.15 pfn_valid() is section-granular and hole pages of a present section "
        f"are initialised and reserved; {stays}"
    )


def _contents_of_span(walk: Walk, model: ModelContext) -> tuple[str, str]:
    """Zone spans and caller ranges: whatever lies inside a zone span can be reached."""
    g = model.geometry
    unit = _checked_unit(walk, g)
    reached = _first_reached(model, unit)
    if reached:
        zone, bad, checked = reached
        where = f"zone {zone.zone} of node {zone.node} {zone.pfns}"
        if walk.extent == "zone-span":
            what = f"{where} spans {bad.describe(g.section_pages)}"
        else:
            what = f"a caller range inside {where} can cover {bad.describe(g.section_pages)}"
        if checked is not None and unit is not None:
            what += f", and {_UNITS[unit]} {checked} passes pfn_valid() at its head"
        return BREAKS, witness(model, what, bad)
    if unit is None:
        kinds = "absent section or offline block"
        how = f"a {walk.extent} walk without a per-pfn check"
    else:
        # pfn_valid() turns absent sections away but not offline blocks.
        kinds = "offline block"
        how = f"a walk checked only with pfn_valid() per {_UNITS[unit]}"
    if model.holes_in_zone_era:
        kinds = "hole or " + kinds
    return UNKNOWN, (
        f"layout '{model.layout.name}' has no {kinds} inside a zone span; "
        f"{how} breaks on a layout that has one"
    )


def _first_reached(
    model: ModelContext, unit: str | None
) -> tuple[ZoneSpan, BadRange, PfnRange | None] | None:
    """(zone, bad range, checked unit) for the first bad range inside a zone span; with
    a check per unit, only units whose head passes pfn_valid() are read."""
    memmap = model.memmap
    for zone, bad in memmap.bad_in_zones():
        if unit is None:
            return zone, bad, None
        pages = _unit_pages(unit, model.geometry)
        found = memmap.bad_window(pages, memmap.valid, [bad], at_head=True)
        if found:
            return zone, found[1], found[0]
    return None


# --- contiguity ------------------------------------------------------------------------


def _contiguity(walk: Walk, model: ModelContext) -> tuple[str, str]:
    g = model.geometry
    if not g.sparse:
        return SAFE, "FLATMEM: mem_map is one array, so page + n is pfn + n"
    if g.vmemmap:
        return SAFE, "SPARSEMEM_VMEMMAP: struct pages are virtually contiguous across sections"
    if walk.extent == "folio" and _checked_unit(walk, g) is None:
        return UNKNOWN, (
            f"{model.title}: a folio's memmap leaves its section only if it is a gigantic "
            f"hugetlb folio ({g.order_size(g.gigantic_order)}, over sections of "
            f"{g.bytes(g.section_pages)}); from the buddy allocator or the page cache it is "
            f"at most {g.order_size(g.max_page_order)}, within one"
        )
    reach, label = _pointer_reach(walk, g)
    section = g.section_pages
    if reach is not None and reach <= section:
        return SAFE, f"page + n stays inside {label}, within one section's memmap"
    if reach is None:
        span = f"{label} can cross sections of {g.bytes(section)}"
    else:
        span = f"{label} ({g.bytes(reach)}) spans {reach // section} sections of {g.bytes(section)}"
    boundary = _section_boundary(model)
    step = (
        f"page + 1 from pfn {boundary - 1:#x} is not pfn {boundary:#x}'s struct page"
        if boundary is not None
        else "page + n leaves its section's memmap"
    )
    return BREAKS, (
        f"{model.title}, {span}; without SPARSEMEM_VMEMMAP each section has its own "
        f"memmap, so {step}"
    )


def _pointer_reach(walk: Walk, g: Geometry) -> tuple[int | None, str]:
    """How many pages `page + n` can advance before the walk derives a new pointer."""
    unit = _checked_unit(walk, g)
    if unit is not None:
        return _unit_pages(unit, g), f"a {_UNITS[unit]}"
    if walk.extent == "huge-page":
        return 1 << g.gigantic_order, "a gigantic page"
    return None, "a zone span" if walk.extent == "zone-span" else "a caller range"


def _section_boundary(model: ModelContext) -> int | None:
    """The first section boundary with online RAM on both sides."""
    section = model.geometry.section_pages
    for r in model.memmap.online:
        boundary = align_up(r.start + 1, section)
        if boundary < r.end:
            return boundary
    return None


# --- orders ----------------------------------------------------------------------------


def verdict_for_order(order: int, model: ModelContext) -> Verdict:
    """An allocation or bound at `order` (already resolved against the tree's MAX_ORDER
    meaning, e.g. Geometry.max_order_macro(meaning)[1] + offset)."""
    if order < 0:
        raise ValueError(f"negative order {order}")
    g = model.geometry
    return _size_verdict(
        order,
        f"order {order} ({g.order_size(order)})",
        f"order {g.max_page_order} ({g.order_size(g.max_page_order)})",
        model,
    )


def verdict_for_order_use(use: str, order: int, model: ModelContext) -> Verdict:
    """What a MAX_ORDER-family use does with the concrete `order` it names (see
    findings.OrderAsk.use): lets it through ("asks"), stores it ("holds": a request,
    a count or a marker, depending on its uses), turns it away ("rejects"),
    never reaches it ("misses"), or aligns a contiguous range to its block ("aligns",
    "aligns-needed" before 5.19)."""
    if use == "asks":
        return verdict_for_order(order, model)
    g = model.geometry
    top, size = g.max_page_order, g.order_size
    largest = f"order {top} ({size(top)}), the largest buddy block on {model.title}"
    if use == "holds":
        past = f"order {order} ({size(order)})"
        return Verdict(
            UNKNOWN,
            model.preset,
            f"holds {past}, past {largest}: it breaks where the value is asked of the "
            "allocator or indexes a per-order array; as a count or an 'unset' marker it is "
            "right",
        )
    if use == "rejects":
        return Verdict(BREAKS, model.preset, f"turns away {largest}: a request for it fails")
    if use == "misses":
        below = f"orders 0..{top - 1} only" if top else "no order at all"
        return Verdict(BREAKS, model.preset, f"never reaches {largest}: {below}")
    block = f"order {order} ({size(order)})"
    pageblock = f"a pageblock, order {g.pageblock_order} ({size(g.pageblock_order)})"
    if use == "aligns-needed":
        reason = (
            f"before 5.19 alloc_contig_range() isolated whole MAX_ORDER blocks: aligning to "
            f"{block} is what it needs on {model.title}"
        )
    elif order > g.pageblock_order:
        times = 1 << (order - g.pageblock_order)
        reason = (
            f"aligns or sizes a contiguous range to {block} on {model.title}, where "
            f"{pageblock}, is all alloc_contig_range() needs since 5.19: valid, "
            f"{times}x coarser than needed"
        )
    else:
        reason = f"{block} is no coarser than {pageblock} on {model.title}: nothing is wasted"
    return Verdict(SAFE, model.preset, reason)


def verdict_for_bytes(nbytes: int, model: ModelContext) -> Verdict:
    """A physically contiguous request of `nbytes`, as get_order() rounds it."""
    if nbytes <= 0:
        raise ValueError(f"size {nbytes} is not positive")
    g = model.geometry
    order = max((nbytes - 1) >> g.page_shift, 0).bit_length()
    return _size_verdict(order, fmt_size(nbytes), g.order_size(g.max_page_order), model)


def _size_verdict(order: int, asked: str, largest: str, model: ModelContext) -> Verdict:
    top = model.geometry.max_page_order
    if order > top:
        reason = f"{model.title}, asks for {asked}; the largest buddy block here is {largest}"
        return Verdict(BREAKS, model.preset, reason)
    if order == top:
        return Verdict(SAFE, model.preset, f"{asked} is the largest buddy block here")
    return Verdict(
        SAFE,
        model.preset,
        f"{asked} is below the largest buddy block, {largest}: allowed, only conservative",
    )


# --- severity and what-if --------------------------------------------------------------


def severity_for(verdict: Verdict, severity: Level) -> Level:
    """Safe by design or by contract is low; breaking is at least medium (the rule's
    own severity still says how sure it is that a hole is reached); unknown keeps it."""
    if verdict.kind in (SAFE, SAFE_CONTRACT):
        return Level.LOW
    if verdict.kind == BREAKS:
        return max(severity, Level.MEDIUM)
    return severity


@dataclass(frozen=True, slots=True)
class VerdictChange:
    index: int  # position in the walks given
    walk: Walk
    before: Verdict
    after: Verdict


def newly_breaking(
    walks: Iterable[Walk], model: ModelContext, what_if: Geometry
) -> list[VerdictChange]:
    """The walks that are safe under `model` but break under the `what_if` geometry
    (same layout and era), e.g. a MAX_ORDER above the section size."""
    after = model.with_geometry(what_if)
    changes = []
    for index, walk in enumerate(walks):
        old, new = verdict_for_walk(walk, model), verdict_for_walk(walk, after)
        if old.kind == SAFE and new.kind == BREAKS:
            changes.append(VerdictChange(index, walk, old, new))
    return changes
