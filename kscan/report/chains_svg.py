"""Hotspot call chains as a picture: one row of boxes and arrows per hotspot.

Hand-written SVG (no graph-layout dependency): a chain is a path, so a row per chain
reads better than a general graph layout and needs none.  It is meant for inline use
in HTML, which needs no xmlns (and a self-contained report names no URL at all).  The
hotspot itself is highlighted; the text is the function names.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kscan.results import HotspotRow

_CHAR, _PAD, _GAP, _ROW, _BOX = 7.2, 10, 26, 46, 26  # monospace 12px metrics


def chains_svg(rows: list[HotspotRow]) -> str:
    if not rows:
        return ""
    drawn = [_row(row, y=12 + i * _ROW) for i, row in enumerate(rows)]
    width = max(w for _, w in drawn) + 12
    height = 12 + len(rows) * _ROW
    body = "".join(svg for svg, _ in drawn)
    return (
        f'<svg width="{width:.0f}" height="{height}" '
        f'font-family="monospace" font-size="12" role="img" '
        f'aria-label="hotspot call chains">{body}</svg>'
    )


def _row(row: HotspotRow, y: float) -> tuple[str, float]:
    chain = row.chain or (row.function,)
    parts, x = [], 12.0
    for i, name in enumerate(chain):
        width = len(name) * _CHAR + 2 * _PAD
        hot = name == row.function
        fill, stroke = ("#fdd", "#b00") if hot else ("#f6f8fa", "#888")
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{_BOX}" rx="4" '
            f'fill="{fill}" stroke="{stroke}"/>'
            f'<text x="{x + _PAD:.1f}" y="{y + 17}">{escape(name)}</text>'
        )
        x += width
        if i < len(chain) - 1:
            mid = y + _BOX / 2
            parts.append(
                f'<line x1="{x:.1f}" y1="{mid}" x2="{x + _GAP - 4:.1f}" y2="{mid}" stroke="#555"/>'
                f'<polygon points="{x + _GAP - 4:.1f},{mid - 4} {x + _GAP:.1f},{mid} '
                f'{x + _GAP - 4:.1f},{mid + 4}" fill="#555"/>'
            )
            x += _GAP
    parts.append(f'<text x="{x + 8:.1f}" y="{y + 17}" fill="#555">score {row.score:g}</text>')
    return "".join(parts), x + 90
