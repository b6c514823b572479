"""Hold the model against the booted kernel: one Check per thing both can state.

The model side comes from kscan/vm/expect.py, the kernel side from the files /init
collected (kernel_view.py).  A check agrees, differs (its note names the difference
and its size), or could not be made because the kernel did not say (agrees is None).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kscan.model.context import ModelContext
from kscan.model.geometry import fmt_size
from kscan.model.layout import Layout, MemRange
from kscan.model.memmap import ZoneSpan
from kscan.model.ranges import PfnRange, merged, subtract
from kscan.model.report import problem_blocks
from kscan.vm import expect
from kscan.vm.kernel_view import KernelView, ZoneInfo


@dataclass(frozen=True, slots=True)
class Check:
    topic: str  # "RAM", "zone", "sections", "memory blocks", ...
    subject: str  # "e820 map", "node 0 DMA32", ...
    model: str
    kernel: str
    agrees: bool | None  # None: the kernel did not say
    note: str = ""

    @property
    def status(self) -> str:
        return {True: "agree", False: "DIFFER", None: "not shown"}[self.agrees]


def compare(ctx: ModelContext, given: Layout, view: KernelView) -> list[Check]:
    """`ctx`: the model on the layout as the kernel keeps it; `given`: the layout booted."""
    checks = [*_geometry(ctx, view), *_ram(ctx, given, view), *_zones(ctx, view)]
    checks += _sections_and_blocks(ctx, view)
    checks += [_unavailable(ctx, view), *_pageblocks(ctx, view), *_free_blocks(ctx, view)]
    checks.append(_problem_blocks(ctx, view))
    return checks


def _missing(topic: str, subject: str, model: str, why: str) -> Check:
    return Check(topic, subject, model, "-", None, why)


# --- geometry --------------------------------------------------------------------------


def _geometry(ctx: ModelContext, view: KernelView) -> list[Check]:
    g = ctx.geometry
    checks = []
    largest = f"order {g.max_page_order}"
    if view.buddy:
        orders = {len(counts) - 1 for counts in view.buddy.values()}
        kernel = ", ".join(f"order {o}" for o in sorted(orders))
        checks.append(
            Check(
                "geometry",
                "largest buddy order",
                largest,
                kernel,
                orders == {g.max_page_order},
                "orders in /proc/buddyinfo",
            )
        )
    else:
        checks.append(_missing("geometry", "largest buddy order", largest, view.why("buddyinfo")))
    pageblock = f"order {g.pageblock_order}"
    if view.pagetypes:
        kernel_order = view.pagetypes.pageblock_order
        checks.append(
            Check(
                "geometry",
                "pageblock",
                pageblock,
                f"order {kernel_order}",
                kernel_order == g.pageblock_order,
                "/proc/pagetypeinfo",
            )
        )
    else:
        checks.append(_missing("geometry", "pageblock", pageblock, view.why("pagetypeinfo")))
    section = g.section_pages << g.page_shift
    if view.memory:
        size = view.memory[0]
        whole = size % section == 0
        note = f"{size // section} section(s) per memory block" if whole else "not whole sections"
        checks.append(
            Check(
                "geometry", "section / memory block", fmt_size(section), fmt_size(size), whole, note
            )
        )
    else:
        checks.append(
            _missing("geometry", "section / memory block", fmt_size(section), view.why("memory"))
        )
    return checks


# --- RAM and holes ---------------------------------------------------------------------


def _ranges(layout: Layout) -> list[PfnRange]:
    return merged(r.span for r in layout.ram)


def _describe_ram(ranges: list[PfnRange]) -> str:
    total = sum(r.size for r in ranges)
    holes = max(len(ranges) - 1, 0)
    return f"{fmt_size(total)} in {len(ranges)} ranges, {holes} holes"


def _ram_difference(model: list[PfnRange], kernel: list[PfnRange]) -> str:
    parts = []
    for what, pieces in (
        ("only the model has RAM", subtract(model, kernel)),
        ("only the kernel has RAM", subtract(kernel, model)),
    ):
        if pieces:
            total = fmt_size(sum(p.size for p in pieces))
            shown = ", ".join(str(MemRange(*p)) for p in pieces[:3])
            more = f" and {len(pieces) - 3} more" if len(pieces) > 3 else ""
            parts.append(f"{what} at {shown}{more} ({total})")
    return "; ".join(parts)


def _ram_check(subject: str, model: list[PfnRange], kernel: Layout | None, why: str) -> Check:
    if kernel is None:
        return _missing("RAM", subject, _describe_ram(model), why)
    theirs = _ranges(kernel)
    return Check(
        "RAM",
        subject,
        _describe_ram(model),
        _describe_ram(theirs),
        theirs == model,
        _ram_difference(model, theirs),
    )


def _ram(ctx: ModelContext, given: Layout, view: KernelView) -> list[Check]:
    """The e820 map the kernel printed is the layout as booted; /proc/iomem's System RAM
    is what it kept after trim_bios_range()."""
    return [
        _ram_check("e820 map (boot log)", _ranges(given), view.e820, view.why("e820")),
        _ram_check("System RAM (/proc/iomem)", _ranges(ctx.layout), view.iomem, view.why("iomem")),
    ]


# --- zones -----------------------------------------------------------------------------


def _zones(ctx: ModelContext, view: KernelView) -> list[Check]:
    expected = {(z.node, z.zone): z for z in expect.zones(ctx)}
    if view.zones is None:
        return [
            _missing(
                "zone",
                f"node {n} {name}",
                _zone_text(z.start_pfn, z.spanned, z.present),
                view.why("zoneinfo"),
            )
            for (n, name), z in expected.items()
        ]
    checks = []
    for zone in view.zones:
        want = expected.pop((zone.node, zone.zone), None)
        if want is None and zone.spanned == 0:
            continue  # an empty zone, on both sides
        kernel = _zone_text(zone.start_pfn, zone.spanned, zone.present)
        model = _zone_text(want.start_pfn, want.spanned, want.present) if want else "empty"
        same = want is not None and _same_zone(want, zone)
        note = _zone_difference(want, zone) if not same else ""
        kept = zone.present - zone.managed
        if same and kept:
            note = f"the kernel keeps {kept} present pages ({fmt_size(kept * 4096)}) for itself"
        checks.append(Check("zone", f"node {zone.node} {zone.zone}", model, kernel, same, note))
    for (n, name), want in expected.items():
        model = _zone_text(want.start_pfn, want.spanned, want.present)
        checks.append(Check("zone", f"node {n} {name}", model, "absent", False, "no such zone"))
    return checks


def _same_zone(want: expect.ZoneExpect, zone: ZoneInfo) -> bool:
    """Span and present pages agree, and the start where zoneinfo shows one: not in a
    zone without present pages (zoneinfo_show_print() stops before start_pfn)."""
    starts = zone.start_pfn is None or zone.start_pfn == want.start_pfn
    return starts and (want.spanned, want.present) == (zone.spanned, zone.present)


def _zone_text(start: int | None, spanned: int, present: int) -> str:
    if not spanned:
        return "empty"
    if start is None:
        return f"{spanned} pages spanned, start not shown, {present} present"
    return f"{PfnRange(start, start + spanned)}, {present} present"


def _zone_difference(want: expect.ZoneExpect | None, zone: ZoneInfo) -> str:
    if want is None:
        return f"the model has no RAM in this zone; the kernel has {zone.present} pages"
    parts = []
    if zone.start_pfn is not None and want.start_pfn != zone.start_pfn:
        parts.append(f"starts {zone.start_pfn - want.start_pfn:+#x} pages from the model")
    if want.spanned != zone.spanned:
        delta = zone.spanned - want.spanned
        parts.append(f"spans {delta:+} pages ({fmt_size(abs(delta) * 4096)})")
    if want.present != zone.present:
        delta = zone.present - want.present
        parts.append(f"{delta:+} present pages ({fmt_size(abs(delta) * 4096)})")
    return "kernel " + ", ".join(parts)


# --- sections and memory blocks --------------------------------------------------------


def _sections_and_blocks(ctx: ModelContext, view: KernelView) -> list[Check]:
    g = ctx.geometry
    model_absent = ctx.memmap.absent
    absent_text = _pfn_list(model_absent) or "none"
    if view.memory is None:
        why = view.why("memory")
        return [
            _missing("sections", "absent sections", absent_text, why),
            _missing("memory blocks", "blocks", "-", why),
        ]
    size, blocks = view.memory
    block_pages = size >> g.page_shift
    span = ctx.memmap.span
    present = merged((b.index * block_pages, (b.index + 1) * block_pages) for b in blocks)
    kernel_absent = subtract([span], present)
    absent = Check(
        "sections",
        "absent sections",
        absent_text,
        _pfn_list(kernel_absent) or "none",
        kernel_absent == model_absent,
        _ram_difference_pfns(model_absent, kernel_absent, "absent"),
    )
    wanted = expect.memory_blocks(ctx, size)
    have = {b.index: (b.state, b.valid_zones) for b in blocks}
    differences = [
        f"memory{i}: model {_block_text(wanted.get(i))}, kernel {_block_text(have.get(i))}"
        for i in sorted(wanted.keys() | have.keys())
        if wanted.get(i) != have.get(i)
    ]
    summary = Check(
        "memory blocks",
        f"{fmt_size(size)} blocks: state, zone",
        _blocks_text(wanted),
        _blocks_text(have),
        not differences,
        "; ".join(differences[:4])
        + (f" and {len(differences) - 4} more" if len(differences) > 4 else ""),
    )
    return [absent, summary]


def _block_text(block: tuple[str, str] | None) -> str:
    return "absent" if block is None else f"{block[0]} {block[1]}"


def _blocks_text(blocks: dict[int, tuple[str, str]]) -> str:
    states = sorted({state for state, _ in blocks.values()})
    mixed = sorted(i for i, (_, zone) in blocks.items() if zone == "none")
    text = f"{len(blocks)} {'/'.join(states)}"
    return text + (f", spanning zones: {', '.join(map(str, mixed))}" if mixed else "")


def _pfn_list(ranges: list[PfnRange]) -> str:
    return ", ".join(map(str, ranges))


def _ram_difference_pfns(model: list[PfnRange], kernel: list[PfnRange], what: str) -> str:
    parts = []
    for who, pieces in (("model", subtract(model, kernel)), ("kernel", subtract(kernel, model))):
        if pieces:
            pages = sum(p.size for p in pieces)
            parts.append(f"only the {who} has {what} {_pfn_list(pieces)} ({pages} pages)")
    return "; ".join(parts)


# --- hole pages, pageblocks, free blocks -----------------------------------------------


def _unavailable(ctx: ModelContext, view: KernelView) -> Check:
    model = expect.unavailable_ranges(ctx)
    text = _unavailable_text(model)
    if not view.unavailable:
        return _missing(
            "hole pages",
            "initialised and reserved",
            text,
            "the log has no 'pages in unavailable ranges' lines (before 5.12, or lost)",
        )
    same = view.unavailable == model
    note = "" if same else f"model {_pages(model)} pages, kernel {_pages(view.unavailable)}"
    return Check(
        "hole pages",
        "initialised and reserved",
        text,
        _unavailable_text(view.unavailable),
        same,
        note,
    )


def _pages(entries: list[tuple[int, str, int]]) -> int:
    return sum(pages for *_, pages in entries)


def _unavailable_text(entries: list[tuple[int, str, int]]) -> str:
    """Per zone, the pages of each hole: "DMA 1+97, DMA32 64+64+64+1024"."""
    by_zone: dict[str, list[str]] = {}
    for node, zone, pages in entries:
        by_zone.setdefault(f"{zone}" if node == 0 else f"{zone}@{node}", []).append(str(pages))
    return ", ".join(f"{zone} {'+'.join(pages)}" for zone, pages in by_zone.items()) or "none"


def _per_zone(
    ctx: ModelContext,
    topic: str,
    subject: str,
    kernel_of: Callable[[ZoneSpan], int | None],
    model_of: Callable[[ZoneSpan], int],
    judge: Callable[[int, int], tuple[bool, str]],
) -> list[Check]:
    checks = []
    for zone in ctx.memmap.zone_spans:
        model = model_of(zone)
        kernel = kernel_of(zone)
        where = f"node {zone.node} {zone.zone}: {subject}"
        if kernel is None:
            checks.append(_missing(topic, where, str(model), "the kernel did not list the zone"))
            continue
        agrees, note = judge(model, kernel)
        checks.append(Check(topic, where, str(model), str(kernel), agrees, note))
    return checks


def _pageblocks(ctx: ModelContext, view: KernelView) -> list[Check]:
    if view.pagetypes is None:
        return [_missing("pageblocks", "counted by pagetypeinfo", "-", view.why("pagetypeinfo"))]
    types = view.pagetypes

    def kernel_of(zone: ZoneSpan) -> int | None:
        return (
            types.pageblocks(zone.node, zone.zone)
            if (zone.node, zone.zone) in types.blocks
            else None
        )

    def judge(model: int, kernel: int) -> tuple[bool, str]:
        return model == kernel, "" if model == kernel else f"kernel {kernel - model:+} pageblocks"

    return _per_zone(
        ctx,
        "pageblocks",
        "with a memmap",
        kernel_of,
        lambda zone: expect.pageblocks(ctx, zone),
        judge,
    )


def _free_blocks(ctx: ModelContext, view: KernelView) -> list[Check]:
    """A free block of the largest order can only be a MAX_ORDER block with no hole, so
    the kernel can never have more than the model's whole blocks."""
    if view.buddy is None:
        return [_missing("free blocks", "largest order", "-", view.why("buddyinfo"))]
    buddy = view.buddy
    whole = expect.whole_free_blocks(ctx)
    top = ctx.geometry.max_page_order

    def kernel_of(zone: ZoneSpan) -> int | None:
        counts = buddy.get((zone.node, zone.zone))
        return counts[top] if counts and len(counts) > top else None

    def judge(model: int, kernel: int) -> tuple[bool, str]:
        if kernel <= model:
            return True, f"{model - kernel} whole blocks in use or split"
        return False, f"{kernel - model} free blocks more than the zone has without a hole"

    return _per_zone(
        ctx,
        "free blocks",
        f"order {top}, at most",
        kernel_of,
        lambda zone: whole[zone.node, zone.zone],
        judge,
    )


# --- MAX_ORDER blocks that hold a hole -------------------------------------------------


def _problem_blocks(ctx: ModelContext, view: KernelView) -> Check:
    model = {b.pfns: b.reasons for b in problem_blocks(ctx)}
    subject = "MAX_ORDER blocks with a hole"
    if view.iomem is None:
        return _missing("MAX_ORDER blocks", subject, f"{len(model)} blocks", view.why("iomem"))
    kernel_ctx = ModelContext(ctx.geometry, view.iomem, ctx.holes_in_zone_era)
    kernel = {b.pfns: b.reasons for b in problem_blocks(kernel_ctx)}
    differences = [
        f"{pfns}: model {'; '.join(model.get(pfns, ('no hole',)))}, "
        f"kernel {'; '.join(kernel.get(pfns, ('no hole',)))}"
        for pfns in sorted(model.keys() | kernel.keys())
        if model.get(pfns) != kernel.get(pfns)
    ]
    return Check(
        "MAX_ORDER blocks",
        subject,
        _heads(model),
        _heads(kernel),
        not differences,
        "; ".join(differences[:3]),
    )


def _heads(blocks: dict[PfnRange, tuple[str, ...]], shown: int = 6) -> str:
    heads = [f"{pfns.start:#x}" for pfns in sorted(blocks)]
    more = f" +{len(heads) - shown}" if len(heads) > shown else ""
    return f"{len(heads)} at {', '.join(heads[:shown])}{more}" if heads else "none"
