"""`kscan series` and `kscan diff` as plain text and as SARIF.

Text: per patch, "+" for each finding it introduces and "-" for each it removes,
in the compiler-style "path:line:col:" form the scan report uses.
SARIF: the introduced findings with baselineState "new", the removed ones "absent".
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

from kscan.report import sarif

if TYPE_CHECKING:
    from kscan.review.review import SeriesResult
    from kscan.series import Change


def render_text(series: SeriesResult) -> str:
    lines = []
    for result in series.patches:
        lines.append(f"{result.patch.subject}  ({result.patch.name})")
        lines += [_line("+", c) for c in result.introduced]
        lines += [_line("-", c) for c in result.removed]
        if result.note:
            lines.append(f"  {result.note}")
        elif not result.introduced and not result.removed:
            lines.append("  no finding changes")
    lines.append(
        f"{len(series.introduced)} introduced, {len(series.removed)} removed "
        f"by {len(series.patches)} patch{'es' if len(series.patches) != 1 else ''}; "
        f"Linux {series.meta.kernel_version}; {series.seconds:.2f}s"
    )
    return "\n".join(lines) + "\n"


def _line(sign: str, change: Change) -> str:
    finding = change.finding
    loc = finding.location
    function = f"{loc.function}(): " if loc.function else ""
    return (
        f"  {sign} {loc.path}:{loc.line}:{loc.col}: {finding.rule_id} "
        f"[{finding.severity}/{finding.confidence}] {function}{finding.message}"
    )


def render_sarif(series: SeriesResult) -> str:
    states = {id(c.finding): "new" for c in series.introduced}
    states |= {id(c.finding): "absent" for c in series.removed}
    findings = [c.finding for c in (*series.introduced, *series.removed)]
    log = sarif.to_log(replace(series.meta, findings=findings), lambda f: states[id(f)])
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
