"""Verdicts from origin x geometry: a walked range judged by where it comes from.

Range provenance (kscan/analysis/provenance/) gives every route by which a walk's range is
reached, each ending at an origin class.  Here each route is judged under a concrete
geometry and layout, and the worst route decides:
- a zone or node span, or a number from user space, can hold holes, absent sections
  and offline blocks: `breaks`, with a witness from the layout that names this walk
  (its function, the span, the bad pfns) and the chain that leads to it;
- a block around a valid pfn is the memory model's business (safe by design since
  5.15, see crosscheck.py);
- the other origins hold by a contract the kernel keeps: `safe-by-contract`, with the
  contract and the chain as the reason;
- where the trace stopped, `unknown`, saying where.
A struct page walk (`page + i`) is judged by the geometry: its pages exist whatever
they belong to; what can break is the memmap's contiguity across sections.
"""

from __future__ import annotations

from kscan.analysis.provenance import origins as o
from kscan.findings import Provenance, Route, Verdict, Walk
from kscan.model.context import ModelContext
from kscan.model.crosscheck import (
    BREAKS,
    SAFE,
    SAFE_CONTRACT,
    UNKNOWN,
    verdict_for_walk,
    witness,
)
from kscan.model.memmap import BadRange
from kscan.model.ranges import PfnRange
from kscan.vocab import block_granularity

# What each contract origin promises about every pfn of its range.
CONTRACTS = {
    o.MEMBLOCK_MEMORY: "memblock.memory regions are RAM, and every pfn in them has an "
    "initialised struct page",
    o.RESERVATION: "a memblock or CMA reservation lies in RAM present at boot, its struct "
    "pages initialised and reserved",
    o.MEMMAP_INIT: "the walk initialises the struct pages it reaches, over a range its "
    "callers populated",
    o.ALLOCATED: "the range is something the caller holds (a page, a folio, an "
    "allocation, a kernel address), so its struct pages exist",
    o.MEMORY_BLOCK: "memory blocks go on- and offline whole, and never with holes "
    "(offline_pages() refuses them; hot-added memory has none)",
    o.ZONE_DEVICE: "ZONE_DEVICE pfns belong to a dev_pagemap, whose memmap "
    "memremap_pages() created",
    o.VALIDATED: "the whole range is checked before the walk",
    o.PAGE_TABLES: "a present page-table entry maps a page with a struct page (PFN maps, "
    "VM_PFNMAP/VM_IO, are checked with pfn_valid() where they are walked)",
}
_UNITS = {"block": "MAX_ORDER block", "pageblock": "pageblock", "section": "section"}
# Kinds in the order the worst wins: a route that breaks outranks one that is unknown.
_SEVERITY = {BREAKS: 3, UNKNOWN: 2, SAFE: 1, SAFE_CONTRACT: 0}


def verdict_for_provenance(
    walk: Walk, provenance: Provenance, where: str, model: ModelContext
) -> Verdict:
    """The worst of the verdicts on each route; `where` is the walking function.  A
    struct page walk is the geometry's: whatever the pages belong to, their memmap
    is contiguous only within a section without SPARSEMEM_VMEMMAP."""
    if walk.unit == "page":
        route = provenance.routes[0]
        judged = verdict_for_walk(walk, model)
        reason = f"{where}() (a struct page walk, from {route.origin}{_via(route, where)}): "
        return Verdict(
            judged.kind, judged.preset, reason + judged.reason, route.origin, route.chain
        )
    routes = [(verdict_for_route(walk, route, where, model), route) for route in provenance.routes]
    worst, route = max(routes, key=lambda pair: _SEVERITY[pair[0].kind])
    others = _others(routes, worst, provenance.dropped)
    return Verdict(worst.kind, worst.preset, worst.reason + others, route.origin, route.chain)


def verdict_for_route(walk: Walk, route: Route, where: str, model: ModelContext) -> Verdict:
    via = _via(route, where)
    if route.origin in o.SPANS:
        return _span(walk, route, where, via, model)
    if route.origin == o.BLOCK:
        unit = walk.extent if walk.extent in _UNITS else block_granularity(route.evidence)
        unit = unit or "block"
        judged = verdict_for_walk(Walk(unit, walk.unit, walk.checked_at), model)
        reason = f"{where}() walks one {_UNITS[unit]} ({route.evidence}{via}): {judged.reason}"
        return Verdict(judged.kind, judged.preset, reason)
    if route.origin in CONTRACTS:
        reason = f"{CONTRACTS[route.origin]}: {route.evidence}{via}"
        return Verdict(SAFE_CONTRACT, "any", reason)
    return Verdict(
        UNKNOWN, model.preset, f"where {where}()'s range comes from: {route.evidence}{via}"
    )


def _span(walk: Walk, route: Route, where: str, via: str, model: ModelContext) -> Verdict:
    found = _reached(route.origin, model)
    what = {
        o.ZONE_SPAN: "a zone span",
        o.NODE_SPAN: "a node span",
        o.USER_INPUT: "any pfn a user writes",
    }[route.origin]
    if found is None:
        return Verdict(
            UNKNOWN,
            model.preset,
            f"{where}() walks {what} ({route.evidence}{via}); layout '{model.layout.name}' "
            "has no hole, absent section or offline block there",
        )
    span, bad = found
    holds = bad.describe(model.geometry.section_pages)
    if route.origin == o.USER_INPUT:
        text = (
            f"{where}() walks from a pfn user space chooses ({route.evidence}{via}), "
            f"such as {bad.pfns.start:#x} in {holds}"
        )
    else:
        text = f"{where}() walks {span} ({route.evidence}{via}), which holds {holds}"
    return Verdict(BREAKS, model.preset, witness(model, text, bad))


def _reached(origin: str, model: ModelContext) -> tuple[str, BadRange] | None:
    """(the span described, the first bad range in it) for the layout."""
    memmap = model.memmap
    if origin == o.ZONE_SPAN:
        for zone, bad in memmap.bad_in_zones():
            return f"zone {zone.zone} of node {zone.node} {zone.pfns}", bad
        return None
    if origin == o.NODE_SPAN:
        for node, span in _node_spans(model):
            for bad in memmap.bad:
                if bad.pfns.overlaps(span):
                    return f"node {node} {span}", bad.within(span)
        return None
    return ("any pfn", memmap.bad[0]) if memmap.bad else None


def _node_spans(model: ModelContext) -> list[tuple[int, PfnRange]]:
    spans: dict[int, PfnRange] = {}
    for zone in model.memmap.zone_spans:
        known = spans.get(zone.node)
        start = min(zone.pfns.start, known.start) if known else zone.pfns.start
        end = max(zone.pfns.end, known.end) if known else zone.pfns.end
        spans[zone.node] = PfnRange(start, end)
    return sorted(spans.items())


def _via(route: Route, where: str) -> str:
    """`, via a() <- b()`: the functions the route climbs through, above the walk."""
    names = []
    for step in route.chain:
        name = step.location.function
        if name and name != where and name not in names:
            names.append(name)
    return f", via {' <- '.join(f'{n}()' for n in names)}" if names else ""


def _others(judged: list[tuple[Verdict, Route]], chosen: Verdict, dropped: int) -> str:
    """`; 3 other routes: 2 safe-by-contract, 1 unknown` when callers disagree."""
    rest = [v.kind for v, _ in judged if v is not chosen]
    if not rest and not dropped:
        return ""
    counts = {kind: rest.count(kind) for kind in sorted(set(rest), key=lambda k: -_SEVERITY[k])}
    parts = [f"{n} {kind}" for kind, n in counts.items()]
    if dropped:
        parts.append(f"{dropped} not traced")
    total = len(rest) + dropped
    return f"; {total} other route{'s' if total != 1 else ''}: {', '.join(parts)}"
