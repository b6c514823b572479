"""`kscan model`: the geometry as a table and the MAX_ORDER blocks that need care."""

from __future__ import annotations

from dataclasses import dataclass

from kscan.findings import Finding
from kscan.model.buddy import Buddy
from kscan.model.context import ModelContext
from kscan.model.crosscheck import newly_breaking
from kscan.model.geometry import MAX_ORDER_MEANINGS, SUBSECTION_SHIFT, fmt_size
from kscan.model.ranges import PfnRange, align_down, clipped, touches

_ERA_OF_MEANING = {"exclusive": "before 6.4", "inclusive": "6.4-6.7", "inclusive-renamed": "6.8+"}


@dataclass(frozen=True, slots=True)
class ProblemBlock:
    pfns: PfnRange
    reasons: tuple[str, ...]  # "hole [0x9f, 0x100)", "spans 8 sections", ...


MODEL_COLUMNS = ("", "value", "note")


def model_report(ctx: ModelContext) -> tuple[list[tuple[str, str, str]], list[ProblemBlock]]:
    """(field, value, note) rows describing the model, and the problem blocks."""
    return _geometry_rows(ctx) + _layout_rows(ctx), problem_blocks(ctx)


def _geometry_rows(ctx: ModelContext) -> list[tuple[str, str, str]]:
    g = ctx.geometry
    macros = "; ".join(
        "{} {} ({})".format(*g.max_order_macro(meaning), _ERA_OF_MEANING[meaning])
        for meaning in reversed(MAX_ORDER_MEANINGS)
    )
    rows = [
        ("preset", g.name, g.source),
        ("page size", fmt_size(g.page_size), f"PAGE_SHIFT {g.page_shift}"),
        ("largest buddy order", f"{g.max_page_order} ({g.bytes(g.max_order_pages)})", macros),
    ]
    if g.max_order_range:
        low, high = g.max_order_range
        rows.append(("Kconfig range", f"{low}..{high}", "ARCH_FORCE_MAX_ORDER, as largest orders"))
    rows += [
        (
            "pageblock",
            f"order {g.pageblock_order} ({g.bytes(g.pageblock_pages)})",
            f"min(HUGETLB_PAGE_ORDER {g.pmd_order}, largest order)",
        ),
        ("memory model", g.memory_model, ""),
    ]
    if g.sparse:
        rows += [
            (
                "section",
                g.bytes(g.section_pages),
                f"SECTION_SIZE_BITS {g.section_size_bits}, {g.section_pages:#x} pages",
            ),
            ("subsection", g.bytes(g.subsection_pages), f"SUBSECTION_SHIFT {SUBSECTION_SHIFT}"),
            (
                "MAX_ORDER block vs section",
                "exceeds a section" if g.block_exceeds_section else "fits in a section",
                "mmzone.h has an #error for this today" if g.block_exceeds_section else "",
            ),
        ]
    rows += [
        ("gigantic page", g.order_size(g.gigantic_order), f"order {g.gigantic_order}"),
        (
            "era",
            "before 5.15" if ctx.holes_in_zone_era else "5.15+",
            "hole pages uninitialised, pfn_valid() memblock-granular"
            if ctx.holes_in_zone_era
            else "hole pages initialised and reserved, pfn_valid() section-granular",
        ),
    ]
    return rows


def _layout_rows(ctx: ModelContext) -> list[tuple[str, str, str]]:
    g, memmap, layout = ctx.geometry, ctx.memmap, ctx.layout
    ram_pages = sum(r.size for r in memmap.ram)
    rows = [
        ("layout", layout.name, layout.source),
        ("RAM", g.bytes(ram_pages), f"{len(memmap.ram)} ranges"),
    ]
    # PFN ranges, as everywhere else in the model (the layout's own holes are bytes)
    for what, ranges in (
        ("holes", memmap.holes),
        ("NOMAP", memmap.nomap),
        ("reserved", memmap.reserved),
        ("offline", memmap.offline),
        ("absent sections", memmap.absent),
    ):
        if ranges:
            rows.append((what, g.bytes(sum(r.size for r in ranges)), ", ".join(map(str, ranges))))
    for zone in memmap.zone_spans:
        present = sum(r.size for r in clipped(memmap.ram, zone.pfns))
        rows.append(
            (
                f"node {zone.node} {zone.zone}",
                str(zone.pfns),
                f"spans {g.bytes(zone.pfns.size)}, {g.bytes(present)} present",
            )
        )
    counts = Buddy(memmap).order_counts()
    rows.append(
        (
            "free after boot",
            ", ".join(f"order {o} x{counts[o]}" for o in sorted(counts, reverse=True)[:4]),
            f"largest free order {max(counts, default=0)}",
        )
    )
    return rows


def problem_blocks(ctx: ModelContext) -> list[ProblemBlock]:
    """MAX_ORDER blocks holding RAM that also hold a hole, NOMAP memory, an offline
    block or an absent section, or that cross a section or a node boundary."""
    g, memmap = ctx.geometry, ctx.memmap
    size = g.max_order_pages
    irregular = [
        ("hole", memmap.holes),
        ("NOMAP", memmap.nomap),
        ("offline block", memmap.offline),
        ("absent section", memmap.absent),
    ]
    node_starts = [r.start >> g.page_shift for r in ctx.layout.node_ranges()[1:]]
    # Only blocks at the ends of an irregular range can also hold RAM.
    edges = [pfn for _, ranges in irregular for r in ranges for pfn in (r.start, r.end - 1)]
    edges += node_starts
    if g.block_exceeds_section:
        edges += [pfn for r in memmap.online for pfn in range(r.start, r.end, size)]
    blocks = []
    for head in sorted({align_down(pfn, size) for pfn in edges}):
        block = PfnRange(head, head + size)
        if not touches(memmap.online, block):
            continue
        reasons = [
            f"{what} {piece}" for what, ranges in irregular for piece in clipped(ranges, block)
        ]
        reasons += [
            f"crosses into node {node} at {pfn:#x}"
            for node, pfn in enumerate(node_starts, 1)
            if block.start < pfn < block.end
        ]
        if g.block_exceeds_section:
            reasons.append(f"spans {size // g.section_pages} sections")
        if reasons:
            blocks.append(ProblemBlock(block, tuple(reasons)))
    return blocks


MODEL_UNITS = "Ranges are page frame numbers (PFNs), [start, end)."


def problem_lines(problems: list[ProblemBlock], limit: int = 12) -> list[str]:
    """The problem blocks as `kscan model` lists them, the first `limit` of them."""
    if not problems:
        return ["No MAX_ORDER block contains a hole or crosses a section or node."]
    lines = [f"{len(problems)} MAX_ORDER blocks (PFNs) contain a hole or cross a section or node:"]
    lines += [f"  {block.pfns}: {'; '.join(block.reasons)}" for block in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more")
    return lines


def what_if(current: ModelContext, max_order: int | None) -> ModelContext:
    """`current` with `max_order` as its largest buddy order (None: `current` itself)."""
    if max_order is None:
        return current
    return current.with_geometry(current.geometry.with_max_page_order(max_order))


def what_if_lines(
    findings: list[Finding], current: ModelContext, changed: ModelContext
) -> list[str]:
    """The walk findings that are safe under `current` and break under `changed`."""
    walks = [(f, f.walk) for f in findings if f.walk]
    changes = newly_breaking([walk for _, walk in walks], current, changed.geometry)
    lines = [
        f"What-if largest order {changed.geometry.max_page_order}: "
        f"{len(changes)} of {len(walks)} walk findings turn from safe to breaking."
    ]
    for change in changes:
        loc = walks[change.index][0].location
        lines.append(f"  {loc.path}:{loc.line}: {loc.function}(): {change.after.reason}")
    return lines
