"""A patch review the way a kernel reviewer writes one, for `kscan series --format email`.

One reply per patch that changes the findings: the patch lines quoted with "> ",
each finding in plain text under the line it is about, wrapped at 72 columns, and
the allocator model's verdict.  Findings a patch removes get a line of thanks.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kscan.review.review import SeriesResult
    from kscan.series import Change, PatchResult

WIDTH = 72


def render(series: SeriesResult) -> str:
    replies = [_reply(p) for p in series.patches if p.introduced or p.removed]
    if not replies:
        count = len(series.patches)
        replies = [f"kscan: no finding changes in {count} patch{'es' if count > 1 else ''}."]
    meta = series.meta
    footer = f"-- \nkscan {meta.tool_version}, Linux {meta.kernel_version}"
    return "\n\n".join([*replies, footer]) + "\n"


def _reply(result: PatchResult) -> str:
    blocks = [f"Subject: Re: {result.patch.subject}"]
    blocks += [_introduced(change) for change in result.introduced]
    blocks += [_removed(change) for change in result.removed]
    return "\n\n".join(blocks)


def _introduced(change: Change) -> str:
    finding = change.finding
    loc = finding.location
    text = [*_quoted(change)]
    if not change.in_hunk:
        text.append(_wrap(f"At {loc.path}:{loc.line}, a line this patch leaves as it is:"))
        text.append(f"> {finding.source_line.strip()}")
        text.append("")
    function = f"{loc.function}(): " if loc.function else ""
    text.append(_wrap(f"{function}{_sentence(finding.message)}"))
    text.append("")
    text.append(_wrap(_verdict(change)))
    text.append(
        f"[kscan {finding.rule_id} {finding.rule_name}, severity {finding.severity}, "
        f"confidence {finding.confidence}]"
    )
    return "\n".join(text)


def _removed(change: Change) -> str:
    finding = change.finding
    loc = finding.location
    where = f"{loc.function}() in {loc.path}" if loc.function else loc.path
    lines = [*_quoted(change)]
    lines.append(
        _wrap(
            f"Thanks, this removes a {finding.rule_id} {finding.rule_name} finding "
            f"in {where}: {_sentence(finding.message)}"
        )
    )
    return "\n".join(lines)


def _quoted(change: Change) -> Iterable[str]:
    quote = change.quote()
    if quote:
        yield from (f"> {line}".rstrip() for line in quote)
        yield ""


def _verdict(change: Change) -> str:
    verdict = change.finding.verdict
    if verdict is None:
        return "Model verdict: none; the allocator model did not judge this walk."
    return f"Model verdict: {verdict.kind} on {verdict.preset}: {_sentence(verdict.reason)}"


def _wrap(text: str) -> str:
    return textwrap.fill(text, WIDTH, break_long_words=False, break_on_hyphens=False)


def _sentence(text: str) -> str:
    return text.rstrip(". ") + "."
