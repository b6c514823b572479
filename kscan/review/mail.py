"""Patches as they arrive: git format-patch files, mbox files (b4, lore, a mail
client's), a single message saved from an archive (.eml, headers and no mbox `From `
line), maildir folders, plain diffs, and `-` for standard input.

Every message is read with the standard library's email package, which undoes
quoted-printable and base64 bodies, RFC 2047 headers and folded subjects.  A message
that carries no diff (a cover letter, a reply, an ack) is passed over with a note
naming its subject; a `format=flowed` body, whose mailer re-wrapped the patch's lines,
is refused.  Patches are put in the order of their `[PATCH x/N]` numbers and missing
numbers are noted, as `b4 am` does.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from pathlib import Path

from kscan.reading import read_bytes
from kscan.results import Mail, Patch
from kscan.review.series import SeriesError, parse_patch

_NUMBER = re.compile(r"\[(?:[^\]]*\s)?0*(\d+)/0*(\d+)(?:\s[^\]]*)?\]")
_REPLY = re.compile(r"(?:re|aw|sv|antw)\s*:", re.IGNORECASE)
_DIFF = re.compile(r"^(?:diff --git |--- \S.*\n\+\+\+ \S)", re.MULTILINE)
_HEADER_LINE = re.compile(rb"[!-9;-~]+:[ \t]")  # "Name: value", as RFC 5322 spells it
STDIN = "-"


@dataclass
class Loaded:
    patches: list[Patch]
    notes: list[str] = field(default_factory=list)  # messages passed over, missing numbers


def load(sources: Sequence[str | Path]) -> Loaded:
    """The patches in `sources`, in series order, and a note for what was passed over."""
    loaded = Loaded([])
    for source in sources:
        for name, data in _messages(str(source)):
            _add(loaded, name, data)
    if not loaded.patches:
        skipped = f" ({len(loaded.notes)} message(s) without a diff)" if loaded.notes else ""
        raise SeriesError(f"no patches given{skipped}")
    loaded.patches, notes = _in_series_order(loaded.patches)
    loaded.notes += notes
    return loaded


def _messages(source: str) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) of each message or diff in one source."""
    if source == STDIN:
        yield from _split("<stdin>", sys.stdin.buffer.read())
        return
    path = Path(source)
    if path.is_dir():
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise SeriesError(f"{source} is a folder but not a maildir (no cur/ or new/)")
        box = mailbox.Maildir(path, factory=None, create=False)
        keys = sorted(box.keys())
        for number, key in enumerate(keys, start=1):
            yield f"{path.name} (message {number})", box.get_bytes(key)
        return
    try:
        data = read_bytes(path)
    except OSError as err:
        raise SeriesError(f"cannot read {source}: {err.strerror or err}") from None
    yield from _split(path.name, data, path)


def _split(name: str, data: bytes, path: Path | None = None) -> Iterator[tuple[str, bytes]]:
    """An mbox into its messages; anything else is one message or one plain diff."""
    if not data.startswith(b"From "):
        yield name, data
        return
    if path is None:  # mailbox reads files: standard input goes through a temporary one
        with tempfile.NamedTemporaryFile(prefix="kscan-stdin-", suffix=".mbox") as spool:
            spool.write(data)
            spool.flush()
            yield from _split(name, data, Path(spool.name))
        return
    box = mailbox.mbox(path, create=False)
    keys = list(box.keys())
    for number, key in enumerate(keys, start=1):
        yield (name if len(keys) == 1 else f"{name} (message {number})"), box.get_bytes(key)


def _add(loaded: Loaded, name: str, data: bytes) -> None:
    if not _HEADER_LINE.match(data):
        text = data.decode("utf-8", "replace")
        if not _DIFF.search(text):
            raise SeriesError(f"{name}: no diff in this file")
        loaded.patches.append(parse_patch(name, name, _unix_lines(text)))
        return
    message = email.message_from_bytes(data, policy=email.policy.default)
    subject = " ".join(str(message.get("subject", "")).split()) or name
    where = f'"{subject}" ({name})'
    if _REPLY.match(subject):
        loaded.notes.append(f"skipped {where}: a reply")
        return
    part = _diff_part(message)
    if part is None:
        number = _NUMBER.search(subject)
        what = "a cover letter" if number and number[1] == "0" else "no diff in it"
        loaded.notes.append(f"skipped {where}: {what}")
        return
    mail = _mail(message, subject)
    if str(part.get_param("format", "")).lower() == "flowed":
        loaded.patches.append(Patch(name, subject, "", (), (), mail=mail, unreadable=FLOWED))
        return
    patch = parse_patch(name, subject, _text(part))
    loaded.patches.append(replace(patch, mail=mail))


FLOWED = (
    "its body is format=flowed: the mailer re-wrapped the patch's lines. Save the "
    "message as it was sent (b4 am, or the archive's raw message)"
)


def _diff_part(message: EmailMessage) -> EmailMessage | None:
    """The first text part, inline or attached, that holds a diff."""
    for part in message.walk():
        if part.is_multipart():
            continue
        if part.get_content_maintype() != "text" and not part.get_filename("").endswith(
            (".patch", ".diff")
        ):
            continue
        if _DIFF.search(_text(part)):
            return part
    return None


def _text(part: EmailMessage) -> str:
    """The part's body, its transfer encoding and charset undone, with Unix line ends."""
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes), "a part that is not multipart decodes to bytes"
    try:
        text = payload.decode(part.get_content_charset() or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        text = payload.decode("utf-8", "replace")
    return _unix_lines(text)


def _unix_lines(text: str) -> str:
    """CRLF line ends, when every line has one (a mail saved on the way), as LF."""
    if "\r\n" in text and text.count("\r\n") == text.count("\n"):
        return text.replace("\r\n", "\n")
    return text


def _mail(message: EmailMessage, subject: str) -> Mail:
    """What a reply to this message needs."""
    references = str(message.get("references", "")).split()
    in_reply_to = str(message.get("in-reply-to", "")).split()
    for reference in in_reply_to:
        if reference not in references:
            references.append(reference)
    number = _NUMBER.search(subject)
    return Mail(
        message_id=str(message.get("message-id", "")).strip(),
        references=tuple(references),
        sender=str(message.get("from", "")),
        to=str(message.get("to", "")),
        cc=str(message.get("cc", "")),
        date=str(message.get("date", "")),
        number=(int(number[1]), int(number[2])) if number else None,
    )


def _in_series_order(patches: list[Patch]) -> tuple[list[Patch], list[str]]:
    """Patches sorted by their [PATCH x/N] numbers when all have one; notes for missing
    and repeated numbers."""
    numbered = [(p.mail.number, p) for p in patches if p.mail and p.mail.number]
    if len(numbered) < len(patches):
        return patches, []
    ordered = [patch for _, patch in sorted(numbered, key=lambda pair: pair[0][0])]
    numbers = [number for number, _ in numbered]
    notes = []
    totals = {n for _, n in numbers}
    seen = Counter(x for x, _ in numbers)
    if len(totals) > 1:
        lengths = ", ".join(map(str, sorted(totals)))
        notes.append(f"the patches give different series lengths: {lengths}")
    total = max(totals)
    missing = [f"{x}/{total}" for x in range(1, total + 1) if x not in seen]
    if missing:
        notes.append(f"the series has {total} patches; missing: {', '.join(missing)}")
    repeated = [f"{x}/{total}" for x, count in sorted(seen.items()) if count > 1]
    if repeated:
        notes.append(f"more than one message numbered {', '.join(repeated)}: all are applied")
    return ordered, notes
