"""`kscan series` and `kscan diff` as plain text and as SARIF.

Text: per patch, "+" for each finding it introduces and "-" for each it removes,
in the compiler-style "path:line:col:" form the scan report uses.
SARIF: the series' net effect, findings it introduces "new", those it removes "absent".
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from kscan.findings import subtract
from kscan.report import sarif
from kscan.report.json_text import dumps

if TYPE_CHECKING:
    from kscan.results import Change, PatchResult, SeriesResult


def render_text(series: SeriesResult) -> str:
    lines = []
    for result in series.patches:
        lines.append(f"{result.patch.subject}  ({result.patch.name})")
        lines += _status(result)
        lines += [_line("+", c) for c in result.introduced]
        lines += [_line("-", c) for c in result.removed]
        if result.judged and not result.introduced and not result.removed:
            lines.append("  no finding changes" + (" elsewhere" if result.not_analysed else ""))
    unjudged, unknown = len(series.unjudged), len({f.path for f in series.not_analysed})
    lines.append(
        f"{len(series.introduced)} introduced, {len(series.removed)} removed "
        f"by {len(series.patches)} patch{'es' if len(series.patches) != 1 else ''}"
        + (f" ({unjudged} not judged)" if unjudged else "")
        + (f" ({unknown} file{'s' if unknown != 1 else ''} not analysed)" if unknown else "")
        + f"; Linux {series.meta.kernel_version}; {series.seconds:.2f}s"
    )
    return "\n".join(lines) + "\n"


def _status(result: PatchResult) -> list[str]:
    """What became of the patch, where its hunks went, and what its findings were
    judged under."""
    head = f"  {result.status}"
    if result.preset:
        head += f"; judged under {result.preset}"
    if result.moved:
        head += f"; {result.moved} finding{'s' if result.moved > 1 else ''} moved with its code"
    lines = [head, *(f"    {note}" for note in result.notes)]
    if result.not_analysed:
        lines.append("  not analysed, so the findings there are unknown:")
        lines += [f"    {f.path}: {f.reason}" for f in result.not_analysed]
    return lines


def _line(sign: str, change: Change) -> str:
    finding = change.finding
    loc = finding.location
    function = f"{loc.function}(): " if loc.function else ""
    return (
        f"  {sign} {loc.path}:{loc.line}:{loc.col}: {finding.rule_id} "
        f"[{finding.severity}/{finding.confidence}] {function}{finding.message}"
    )


def render_sarif(series: SeriesResult) -> str:
    """The series as a whole against its base: a finding one patch introduces and a
    later one removes is in neither list, one removed and brought back is in none."""
    introduced = [c.finding for c in series.introduced]
    removed = [c.finding for c in series.removed]
    new, absent = subtract(introduced, removed), subtract(removed, introduced)
    states = {id(f): "new" for f in new} | {id(f): "absent" for f in absent}
    unknown = series.not_analysed  # among the warnings too, as a scan's are
    warnings = [*series.meta.warnings, *(f"{f.path}: {f.reason}" for f in unknown)]
    meta = replace(series.meta, findings=[*new, *absent], warnings=warnings, not_analysed=unknown)
    log = sarif.to_log(meta, lambda f: states[id(f)])
    return dumps(log)
