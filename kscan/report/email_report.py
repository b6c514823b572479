"""A patch review the way a kernel reviewer writes one, for `kscan series --format email`.

An mbox of replies, one to each patch that changes the findings or leaves a file kscan
could not analyse (which the reply names), threaded under it:
`In-Reply-To` and `References` name the patch's Message-ID, the patch's author is
`To`, its recipients `Cc`, the subject `Re: [PATCH x/N] ...`.  Each hunk with findings
is quoted once, trimmed to the lines before each finding (`[...]` where lines are
cut), with the finding in plain text under the line it is about, wrapped at 72
columns; a removed finding is quoted down to the lines that replaced it.  `git
send-email` and mail clients read the result; a sender and a closing line come from
--from and --signoff.  No Date or Message-ID: the tool that sends the mail adds them.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterable, Sequence
from email.generator import Generator
from email.message import EmailMessage
from email.policy import default
from email.utils import getaddresses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kscan.results import Change, Hunk, HunkLine, PatchResult, Reply, SeriesResult

WIDTH = 72
CONTEXT = 6  # hunk lines quoted before a finding's line
UNIX_FROM = "From kscan Mon Sep 17 00:00:00 2001"  # the fixed envelope line git uses
_POLICY = default.clone(linesep="\n", max_line_length=998)


def render(series: SeriesResult, reply: Reply) -> str:
    """An mbox of replies (empty when no patch changes the findings or leaves some
    unknown)."""
    out = io.StringIO()
    for result in series.patches:
        if result.newsworthy:
            message = _reply(result, series, reply)
            message.set_unixfrom(UNIX_FROM)
            Generator(out, mangle_from_=True, policy=_POLICY).flatten(message, unixfrom=True)
            out.write("\n")
    return out.getvalue()


def _reply(result: PatchResult, series: SeriesResult, reply: Reply) -> EmailMessage:
    patch, mail = result.patch, result.patch.mail
    message = EmailMessage(policy=_POLICY)
    if reply.sender:
        message["From"] = reply.sender
    if mail and mail.sender:
        message["To"] = mail.sender
        others = _addresses(mail.to, mail.cc, but=(mail.sender, reply.sender or ""))
        if others:
            message["Cc"] = others
    subject = patch.subject
    message["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    if mail and mail.message_id:
        message["In-Reply-To"] = mail.message_id
        message["References"] = " ".join((*mail.references, mail.message_id))
    message.set_content(_body(result, series, reply), charset="utf-8", cte="8bit")
    return message


def _addresses(*fields: str, but: Iterable[str]) -> str:
    """The addresses in `fields`, each once, without those of `but`."""
    mine = {address.lower() for _, address in getaddresses(list(but)) if address}
    seen, kept = set(mine), []
    for name, address in getaddresses([f for f in fields if f]):
        if address and address.lower() not in seen:
            seen.add(address.lower())
            kept.append(f"{name} <{address}>" if name else address)
    return ", ".join(kept)


def _body(result: PatchResult, series: SeriesResult, reply: Reply) -> str:
    mail = result.patch.mail
    blocks: list[str] = []
    changes = [*result.introduced, *result.removed]
    hunks: dict[int, tuple[Hunk, list[Change]]] = {}
    outside = []
    for change in changes:
        if change.in_hunk:
            assert change.hunk is not None, "a change in a hunk has one"
            hunks.setdefault(id(change.hunk), (change.hunk, []))[1].append(change)
        else:
            outside.append(change)
    shown_files: set[str] = set()
    for hunk, in_hunk in sorted(hunks.values(), key=lambda h: (h[0].path, _first_line(h[0]))):
        blocks.append(_quoted_hunk(hunk, in_hunk, hunk.path not in shown_files))
        shown_files.add(hunk.path)
    blocks += [_outside(change) for change in outside]
    if blocks and mail and mail.date and mail.sender:  # the attribution sits on the quote
        blocks[0] = f"On {mail.date}, {mail.sender} wrote:\n{blocks[0]}"
    if result.not_analysed:
        blocks.append(_not_analysed(result))
    if reply.signoff:
        blocks.append(reply.signoff)
    meta = series.meta
    blocks.append(f"-- \nkscan {meta.tool_version}, Linux {meta.kernel_version}")
    return "\n\n".join(blocks) + "\n"


def _first_line(hunk: Hunk) -> int:
    return next((n for _, _, n in hunk.lines if n is not None), 0)


def _quoted_hunk(hunk: Hunk, changes: list[Change], file_header: bool) -> str:
    """The hunk quoted once: up to CONTEXT lines before each finding's line (a removed
    one's through the lines that replace it), the finding under them, the rest cut."""
    lines = hunk.lines
    out = [f"> --- a/{hunk.source or hunk.path}", f"> +++ b/{hunk.path}"] if file_header else []
    out.append(f"> {hunk.header}")
    shown = -1  # the last hunk line quoted
    for change in sorted(changes, key=lambda c: c.position):
        at = change.position
        end = at if change.introduced else _end_of_change(lines, at)
        start = max(shown + 1, at - CONTEXT + 1)
        if start > shown + 1:
            out.append("> [...]")
        quoted = enumerate(lines[start : end + 1], start)
        out += [f"> {change.shown(text, index)}".rstrip() for index, (text, _, _) in quoted]
        shown = max(shown, end)
        out += ["", _introduced(change) if change.introduced else _removed(change), ""]
    if shown < len(lines) - 1:
        out.append("> [...]")
    return "\n".join(out).rstrip("\n")


def _end_of_change(lines: Sequence[HunkLine], at: int) -> int:
    """The last line of the run of -/+ lines that `at` is in: what replaced it."""
    while at + 1 < len(lines) and lines[at + 1][0][:1] in "+-":
        at += 1
    return at


def _outside(change: Change) -> str:
    loc = change.finding.location
    where = "a line this patch leaves as it is" if change.introduced else "a line it removes"
    text = [
        _wrap(f"At {loc.path}:{loc.line}, {where}:"),
        "",
        f"    {change.finding.source_line.strip()}",
        "",
    ]
    text.append(_introduced(change) if change.introduced else _removed(change))
    return "\n".join(text)


def _not_analysed(result: PatchResult) -> str:
    intro = (
        "kscan could not analyse these files, so what this patch does to the findings "
        "in them is unknown:"
    )
    return "\n".join(
        [_wrap(intro), "", *(f"    {f.path}: {f.reason}" for f in result.not_analysed)]
    )


def _introduced(change: Change) -> str:
    finding = change.finding
    loc = finding.location
    function = f"{loc.function}(): " if loc.function else ""
    return "\n".join(
        (
            f"kscan {finding.rule_id} {finding.rule_name} (severity {finding.severity}, "
            f"confidence {finding.confidence}):",
            _wrap(f"{function}{_sentence(finding.message)}"),
            _wrap(_verdict(change)),
        )
    )


def _removed(change: Change) -> str:
    finding = change.finding
    loc = finding.location
    where = f"{loc.function}() in {loc.path}" if loc.function else loc.path
    return _wrap(
        f"Thanks: this removes a {finding.rule_id} {finding.rule_name} finding in {where}: "
        f"{_sentence(finding.message)}"
    )


def _verdict(change: Change) -> str:
    verdict = change.finding.verdict
    if verdict is None:
        return "Model verdict: none; the allocator model did not judge this walk."
    return f"Model verdict: {verdict.kind} on {verdict.preset}: {_sentence(verdict.reason)}"


def _wrap(text: str) -> str:
    return textwrap.fill(text, WIDTH, break_long_words=False, break_on_hyphens=False)


def _sentence(text: str) -> str:
    return text.rstrip(". ") + "."
