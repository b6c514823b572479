"""A review comment for GitLab and GitHub merge requests: `--format markdown`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kscan.results import Change, PatchResult, SeriesResult


def render(series: SeriesResult) -> str:
    introduced, removed = len(series.introduced), len(series.removed)
    lines = [
        f"### kscan: {introduced} introduced, {removed} removed "
        f"in {len(series.patches)} patch{'es' if len(series.patches) != 1 else ''}",
        "",
    ]
    for result in series.patches:
        lines += _patch(result)
    meta = series.meta
    lines.append(f"<sub>kscan {meta.tool_version}, Linux {meta.kernel_version}</sub>")
    return "\n".join(lines) + "\n"


def _patch(result: PatchResult) -> list[str]:
    lines = [f"#### {_escape(result.patch.subject)}", ""]
    if result.status != "applied" or result.notes:
        lines += [f"*{result.status}*", "", *(f"- {_escape(note)}" for note in result.notes), ""]
    if result.not_analysed:
        lines += ["Not analysed, so the findings there are unknown:", ""]
        lines += [f"- `{f.path}`: {_escape(f.reason)}" for f in result.not_analysed] + [""]
    if not result.introduced and not result.removed:
        if not result.judged:
            return [*lines, "Not judged.", ""]
        return [*lines, "No finding changes" + (" elsewhere." if result.not_analysed else "."), ""]
    for change in result.introduced:
        lines += _change(change, "Introduces")
    for change in result.removed:
        lines += _change(change, "Removes")
    return lines


def _change(change: Change, what: str) -> list[str]:
    finding = change.finding
    loc = finding.location
    function = f" in `{loc.function}()`" if loc.function else ""
    lines = [
        f"**{what} {finding.rule_id}** `{finding.rule_name}` "
        f"(severity {finding.severity}, confidence {finding.confidence}) "
        f"at `{loc.path}:{loc.line}`{function}",
        "",
    ]
    quote = change.quote()
    if quote:
        lines += ["```diff", *quote, "```", ""]
    lines += [_escape(finding.message), ""]
    if change.introduced:
        verdict = finding.verdict
        lines += [
            f"Model verdict: **{verdict.kind}** on `{verdict.preset}`: {_escape(verdict.reason)}"
            if verdict
            else "Model verdict: none",
            "",
        ]
    return lines


def _escape(text: str) -> str:
    """Keep prose literal: Markdown would read `*`, `_` and `<` in C as markup.  Code
    spans (`...`) stay as they are: their text is literal already."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an odd backtick opens no span
        return _escape_prose(text)
    return "`".join(part if i % 2 else _escape_prose(part) for i, part in enumerate(parts))


def _escape_prose(text: str) -> str:
    for char in "\\`*_<[]":
        text = text.replace(char, "\\" + char)
    return text
