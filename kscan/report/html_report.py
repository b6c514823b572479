"""One self-contained HTML file for a series: works offline, no scripts, no fetches.

A table of every finding the series introduces or removes, then each finding with
the patch lines around it.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape
from typing import TYPE_CHECKING

from kscan.report.chains_svg import chains_svg

if TYPE_CHECKING:
    from kscan.results import Change, PatchResult, SeriesResult

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eee; }
code, pre { font: 13px/1.3 ui-monospace, monospace; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 8px; overflow-x: auto; tab-size: 8; }
.new { color: #a00; font-weight: bold; } .absent { color: #070; font-weight: bold; }
.high { background: #fdd; } .medium { background: #ffe9c0; } .low { background: #e6f2ff; }
.add { background: #e6ffec; display: block; } .del { background: #ffebe9; display: block; }
.hunk { color: #0550ae; display: block; }
"""


def render(series: SeriesResult) -> str:
    meta = series.meta
    changes = list(_numbered(series))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>kscan series report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>kscan series report</h1>",
        f"<p>{len(series.introduced)} introduced, {len(series.removed)} removed "
        f"in {len(series.patches)} patches. Linux {escape(meta.kernel_version)}, "
        f"MAX_ORDER semantics {escape(meta.semantics or 'unknown')}; "
        f"kscan {escape(meta.tool_version)}.</p>",
        "<h2>Patches</h2>",
        _statuses(series),
        "<h2>Findings</h2>",
        _table(changes) if changes else "<p>No finding changes.</p>",
    ]
    if series.hotspots:
        parts.append("<h2>Hotspots</h2>")
        parts.append(
            "<p>Call chains to the functions the series' new findings sit in "
            "(allocator entry point to the finding; red: the function).</p>"
        )
        parts.append(chains_svg(series.hotspots))
    if changes:
        parts.append("<h2>Source context</h2>")
        parts += [_context(number, change) for number, _, change in changes]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _statuses(series: SeriesResult) -> str:
    """Each patch with what became of it: applied, at an offset, does not apply ..."""
    items = []
    for result in series.patches:
        unknown = [
            f"not analysed, so the findings there are unknown: {f.path}: {f.reason}"
            for f in result.not_analysed
        ]
        notes = "".join(f"<li>{escape(note)}</li>" for note in (*result.notes, *unknown))
        items.append(
            f"<li>{escape(result.patch.subject)}: <b>{escape(result.status)}</b>"
            + (f"<ul>{notes}</ul>" if notes else "")
            + "</li>"
        )
    return f"<ul>{''.join(items)}</ul>"


def _numbered(series: SeriesResult) -> Iterator[tuple[int, PatchResult, Change]]:
    number = 0
    for result in series.patches:
        for change in (*result.introduced, *result.removed):
            number += 1
            yield number, result, change


def _table(changes: list[tuple[int, PatchResult, Change]]) -> str:
    rows = [
        "<table><tr><th>#</th><th>Patch</th><th>Change</th><th>Rule</th><th>Severity</th>"
        "<th>Location</th><th>Message</th><th>Model verdict</th></tr>"
    ]
    for number, result, change in changes:
        finding, loc = change.finding, change.finding.location
        state = "new" if change.introduced else "absent"
        function = f" in {loc.function}()" if loc.function else ""
        verdict = finding.verdict
        rows.append(
            f'<tr class="{finding.severity}"><td><a href="#f{number}">{number}</a></td>'
            f"<td>{escape(result.patch.subject)}</td>"
            f'<td class="{state}">{"introduced" if change.introduced else "removed"}</td>'
            f"<td>{finding.rule_id} {escape(finding.rule_name)}</td>"
            f"<td>{finding.severity} / {finding.confidence}</td>"
            f"<td><code>{escape(loc.path)}:{loc.line}</code>{escape(function)}</td>"
            f"<td>{escape(finding.message)}</td>"
            f"<td>{escape(f'{verdict.kind} ({verdict.preset})') if verdict else 'none'}</td>"
            "</tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _context(number: int, change: Change) -> str:
    finding, loc = change.finding, change.finding.location
    lines = change.quote(limit=12) or (finding.source_line,)
    body = "".join(_code_line(line) for line in lines)
    reason = f"<p>Model: {escape(finding.verdict.reason)}</p>" if finding.verdict else ""
    return (
        f'<h3 id="f{number}">{number}. {finding.rule_id} at {escape(loc.path)}:{loc.line}</h3>'
        f"<p>{escape(finding.message)}</p><pre>{body}</pre>{reason}"
    )


def _code_line(line: str) -> str:
    css = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1])
    text = escape(line)
    return f'<span class="{css}">{text}</span>' if css else text + "\n"
