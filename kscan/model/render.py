"""A picture of the physical memory map, as hand-written SVG.

The overview folds physical memory into rows (rows without RAM are skipped and the
gap is labelled), colours RAM, reserved, NOMAP, offline, holes and absent sections,
marks section and MAX_ORDER block boundaries, and outlines the problem blocks in red.
Below it the problem blocks are drawn alone at full width, with their pageblocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from kscan import atomic
from kscan.model.context import ModelContext
from kscan.model.ranges import PfnRange, clipped
from kscan.model.report import ProblemBlock, problem_blocks

WIDTH, LEFT, RIGHT = 1000, 150, 20
BAR = WIDTH - LEFT - RIGHT
ROW, GAP = 22, 12
ROWS = 16  # the overview aims at about this many rows of RAM
ZOOMED = 8  # problem blocks drawn alone
MIN_LINE_GAP = 4  # px: boundary lines closer than this are left out

COLOURS = {
    "absent section": "#f2f2f2",
    "hole (memmap present)": "#bdbdbd",
    "RAM": "#74b86f",
    "reserved": "#4f81bd",
    "NOMAP": "#f39c34",
    "offline": "#9b72c2",
}
PROBLEM = "#d62728"


def render_svg(ctx: ModelContext, path: str | Path) -> None:
    atomic.write_text(Path(path), svg_text(ctx))


def svg_text(ctx: ModelContext) -> str:
    out: list[str] = []
    problems = problem_blocks(ctx)
    y = _text(out, 10, 22, f"{ctx.title}: {ctx.layout.name}", size=15, bold=True) + 16
    y = _overview(out, ctx, problems, y)
    y = _zoomed(out, ctx, problems, y + 10)
    y = _legend(out, y + 10) + 10
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y}" '
            'font-family="monospace" font-size="11">',
            f'<rect width="{WIDTH}" height="{y}" fill="white"/>',
            *out,
            "</svg>\n",
        ]
    )


def _text(
    out: list[str], x: float, y: float, text: str, size: int = 11, bold: bool = False
) -> float:
    weight = ' font-weight="bold"' if bold else ""
    out.append(f'<text x="{x}" y="{y}" font-size="{size}"{weight}>{escape(text)}</text>')
    return y


def _rect(out: list[str], x: float, y: float, w: float, h: float, style: str) -> None:
    out.append(f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{h}" {style}/>')


def _line(out: list[str], x: float, y1: float, y2: float, style: str) -> None:
    out.append(f'<line x1="{x:.2f}" y1="{y1}" x2="{x:.2f}" y2="{y2}" {style}/>')


def _bar(
    out: list[str],
    ctx: ModelContext,
    window: PfnRange,
    y: float,
    lines: Sequence[tuple[int, float]],
    problems: list[ProblemBlock],
) -> None:
    """`window` drawn across the bar at height y.  `lines` are (every n pfns, from
    this height down) boundary marks."""
    memmap = ctx.memmap
    scale = BAR / window.size

    def x_of(pfn: int) -> float:
        return LEFT + (pfn - window.start) * scale

    def fill(ranges: list[PfnRange], colour: str, min_width: float = 0.0) -> None:
        for r in clipped(ranges, window):
            _rect(out, x_of(r.start), y, max(r.size * scale, min_width), ROW, f'fill="{colour}"')

    fill([window], COLOURS["absent section"])
    fill(memmap.present, COLOURS["hole (memmap present)"])
    fill(memmap.ram, COLOURS["RAM"])
    # Small things drawn at least 1.5 px wide, so they stay visible at any scale.
    fill(memmap.reserved, COLOURS["reserved"], 1.5)
    fill(memmap.offline, COLOURS["offline"], 1.5)
    fill(memmap.nomap, COLOURS["NOMAP"], 1.5)
    fill(memmap.holes, COLOURS["hole (memmap present)"], 1.5)
    for step, top in lines:
        if step * scale >= MIN_LINE_GAP:
            first = -(-window.start // step) * step
            for pfn in range(first, window.end, step):
                _line(out, x_of(pfn), y + top, y + ROW, 'stroke="#333" stroke-width="0.6"')
    for node in ctx.layout.node_ranges()[1:]:
        pfn = node.start >> ctx.geometry.page_shift
        if window.start < pfn < window.end:
            _line(out, x_of(pfn), y - 3, y + ROW + 3, 'stroke="black" stroke-width="2"')
    _rect(out, LEFT, y, BAR, ROW, 'fill="none" stroke="#444"')
    for block in problems:
        for piece in clipped([block.pfns], window):
            style = f'fill="none" stroke="{PROBLEM}" stroke-width="1.5"'
            _rect(out, x_of(piece.start), y - 2, max(piece.size * scale, 3), ROW + 4, style)


def _overview(out: list[str], ctx: ModelContext, problems: list[ProblemBlock], y: float) -> float:
    g, memmap = ctx.geometry, ctx.memmap
    row_pages = max(g.section_pages, g.max_order_pages)
    while row_pages * ROWS < sum(r.size for r in memmap.ram):
        row_pages *= 2
    rows = sorted(
        {pfn // row_pages for r in memmap.ram for pfn in range(r.start, r.end, row_pages)}
        | {(r.end - 1) // row_pages for r in memmap.ram}
    )
    lines = [(g.section_pages, 0), (g.max_order_pages, ROW - 5)]
    previous = None
    for row in rows:
        if previous is not None and row != previous + 1:
            skipped = g.bytes((row - previous - 1) * row_pages)
            y = _text(out, LEFT, y + 12, f"... {skipped} without RAM ...") + 8
        window = PfnRange(row * row_pages, (row + 1) * row_pages)
        _text(out, 10, y + 15, f"{window.start << g.page_shift:#x}")
        _bar(out, ctx, window, y, lines, problems)
        previous, y = row, y + ROW + GAP
    caption = (
        f"rows of {g.bytes(row_pages)} from physical address; lines: sections, "
        f"ticks: MAX_ORDER blocks ({g.bytes(g.max_order_pages)}) where wide enough; "
        "red: problem blocks"
    )
    return _text(out, LEFT, y + 4, caption) + 10


def _zoomed(out: list[str], ctx: ModelContext, problems: list[ProblemBlock], y: float) -> float:
    g = ctx.geometry
    if not problems:
        message = "no MAX_ORDER block holds a hole or crosses a section or node"
        return _text(out, 10, y + 12, message) + 6
    title = f"MAX_ORDER blocks that need care ({len(problems)}), by pfn, with pageblocks:"
    y = _text(out, 10, y + 12, title, bold=True) + 10
    # Blocks with the most to say first: in a what-if every block crosses sections.
    for block in sorted(problems, key=lambda b: -len(b.reasons))[:ZOOMED]:
        _text(out, 10, y + 15, f"pfn {block.pfns.start:#x}")
        _bar(out, ctx, block.pfns, y, [(g.pageblock_pages, 0)], [block])
        y = _text(out, LEFT, y + ROW + 14, f"{block.pfns}: " + "; ".join(block.reasons)) + GAP
    if len(problems) > ZOOMED:
        y = _text(out, LEFT, y + 4, f"... and {len(problems) - ZOOMED} more") + 6
    return y


def _legend(out: list[str], y: float) -> float:
    x = 10
    for name, colour in COLOURS.items():
        _rect(out, x, y, 14, 14, f'fill="{colour}" stroke="#444"')
        _text(out, x + 18, y + 11, name)
        x += 30 + 7 * len(name)
    return y + 20
