"""kscan series on patches as they arrive from a list: mails built with the email
package from the demo repository's patches, in every encoding and shape a mailer or
an archive gives them (issue #16)."""

from __future__ import annotations

import email
import email.policy
import io
import mailbox
import re
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
import test_series
from test_series import edit, git, new_walk_line, run, snapshot

from kscan.review.mail import load
from kscan.review.series import SeriesError

# The demo repository and its two format-patch files, as test_series builds them.
quiet_git = test_series.quiet_git
repo = test_series.repo
patches = test_series.patches

LIST = "linux-mm@kvack.org"
AUTHOR = "Jane Doe <jane@example.org>"


def body_of(patch: Path) -> str:
    """The commit message and diff of a format-patch file, as its mail body."""
    message = email.message_from_bytes(patch.read_bytes(), policy=email.policy.default)
    return message.get_content()


def mail(subject: str, body: str, number: int, cte: str = "8bit", **headers) -> EmailMessage:
    message = EmailMessage()
    message["From"] = AUTHOR
    message["To"] = LIST
    message["Cc"] = "Andrew Morton <akpm@linux-foundation.org>"
    message["Subject"] = subject
    message["Date"] = "Mon, 1 Jan 2024 10:00:00 +0000"
    message["Message-ID"] = f"<20240101.{number}-jane@example.org>"
    if number:
        message["In-Reply-To"] = "<20240101.0-jane@example.org>"
        message["References"] = "<20240101.0-jane@example.org>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body, charset="utf-8", cte=cte)
    return message


def mbox(path: Path, messages: list[EmailMessage]) -> Path:
    box = mailbox.mbox(path)
    for message in messages:
        box.add(message)
    box.close()
    return path


COVER = "Two fixes to the demo tree's walks.\n\nJane Doe (2):\n  mm: ...\n"


def thread(patches: list[Path], encodings=("base64", "quoted-printable")) -> list[EmailMessage]:
    """A list thread as an archive gives it: the cover letter, the patches out of order
    (2/2 first) in two encodings, and a reply with an ack in between."""
    first, second = (body_of(p) for p in patches)
    return [
        mail("[PATCH 0/2] mm: demo walks", COVER, 0),
        mail("[PATCH 2/2] mm: add clear_node_reserved()", second, 2, encodings[1]),
        mail("Re: [PATCH 2/2] mm: add clear_node_reserved()",
             "> +\tfor (pfn = ...\n\nAcked-by: Someone <someone@example.org>\n", 3),
        mail("[PATCH 1/2] mm: check pfn_valid() in mark_range()", first, 1, encodings[0]),
    ]


def test_a_thread_from_the_list(repo, patches, tmp_path, capsys):
    """Cover letter and reply passed over with their subjects, the patches put in
    order, base64 and quoted-printable bodies read, the tree unchanged."""
    path = mbox(tmp_path / "thread.mbox", thread(patches))
    before = snapshot(repo)
    code, out, err = run(capsys, "series", str(path), "--tree", str(repo))
    assert code == 1
    assert err.splitlines() == [
        'kscan: note: skipped "[PATCH 0/2] mm: demo walks" (thread.mbox (message 1)): '
        "a cover letter",
        'kscan: note: skipped "Re: [PATCH 2/2] mm: add clear_node_reserved()" '
        "(thread.mbox (message 3)): a reply",
    ]
    first, second = out.split("[PATCH 2/2]")
    assert first.startswith("[PATCH 1/2] mm: check pfn_valid() in mark_range()")
    assert "  applied\n  - mm/hole_walks.c:29:" in first
    assert f"  applied\n  + mm/page_walks.c:{new_walk_line()}:" in second
    assert snapshot(repo) == before
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("cte", ["7bit", "8bit", "quoted-printable", "base64"])
@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_a_lone_message_in_any_encoding(repo, patches, tmp_path, cte, crlf):
    """A message saved from an archive: headers and body, no mbox From line."""
    message = mail("[PATCH 2/2] mm: add clear_node_reserved()", body_of(patches[1]), 2, cte)
    policy = email.policy.SMTP if crlf else email.policy.default
    path = tmp_path / "msg.eml"
    path.write_bytes(message.as_bytes(policy=policy))
    assert path.read_bytes().startswith(b"From: ")
    [patch] = load([path]).patches
    assert patch.subject == "[PATCH 2/2] mm: add clear_node_reserved()"
    assert patch.mail.message_id == "<20240101.2-jane@example.org>"
    assert patch.mail.number == (2, 2)
    assert "\r" not in patch.diff
    (result,) = judged(repo, [path])
    assert result.status == "applied"
    assert [c.finding.location.function for c in result.introduced] == ["clear_node_reserved"]


def test_quoted_printable_with_soft_breaks_and_a_folded_subject(repo, patches, tmp_path):
    """As git send-email's quoted-printable mails look in the archive: long diff lines
    cut with '=' at the end, '=20' for a context line's space, '=3D' for '=', a folded
    Subject, an in-body From line."""
    text = "From: Jane Doe <jane@example.org>\n\n" + body_of(patches[1]).replace(
        "ClearPageReserved(pfn_to_page(pfn));",
        "ClearPageReserved(pfn_to_page(pfn)); /* a comment long enough for the mailer to cut "
        "the line in two, as it does past 76 columns */",
    )
    message = mail("[PATCH 2/2] mm: add clear_node_reserved(), a subject long enough "
                   "to be folded by the mailer", text, 2, "quoted-printable")
    raw = message.as_bytes()
    assert b"=\n" in raw and b"=20\n" in raw and b"=3D" in raw
    assert b"\n be folded by the mailer" in raw
    path = tmp_path / "qp.eml"
    path.write_bytes(raw)
    [patch] = load([path]).patches
    assert patch.subject.endswith("a subject long enough to be folded by the mailer")
    (result,) = judged(repo, [path])
    assert [c.finding.location.line for c in result.introduced] == [new_walk_line()]


def test_maildir_and_standard_input(repo, patches, tmp_path, monkeypatch, capsys):
    folder = mailbox.Maildir(tmp_path / "inbox")
    for message in thread(patches, ("8bit", "8bit")):
        folder.add(message)
    assert [p.subject for p in load([tmp_path / "inbox"]).patches] == [
        "[PATCH 1/2] mm: check pfn_valid() in mark_range()",
        "[PATCH 2/2] mm: add clear_node_reserved()",
    ]
    path = mbox(tmp_path / "thread.mbox", thread(patches))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    code, out, _ = run(capsys, "series", "-", "--tree", str(repo))
    assert code == 1 and f"  + mm/page_walks.c:{new_walk_line()}:" in out


def test_missing_and_repeated_numbers_are_noted(patches, tmp_path):
    first, second = (body_of(p) for p in patches)
    path = mbox(tmp_path / "gaps.mbox", [
        mail("[PATCH v2 3/3] mm: add clear_node_reserved()", second, 3),
        mail("[PATCH v2 1/3] mm: check pfn_valid() in mark_range()", first, 1),
        mail("[PATCH v2 3/3] mm: add clear_node_reserved()", second, 3),
    ])
    loaded = load([path])
    assert [p.mail.number for p in loaded.patches] == [(1, 3), (3, 3), (3, 3)]
    assert loaded.notes == ["the series has 3 patches; missing: 2/3",
                            "more than one message numbered 3/3: all are applied"]


def test_format_flowed_is_refused_with_a_clear_word(repo, patches, tmp_path, capsys):
    message = mail("[PATCH 2/2] mm: add clear_node_reserved()", body_of(patches[1]), 2)
    message.set_param("format", "flowed")
    path = tmp_path / "flowed.eml"
    path.write_bytes(message.as_bytes())
    before = snapshot(repo)
    code, out, err = run(capsys, "series", str(patches[0]), str(path), "--tree", str(repo))
    assert code == 2 and "1 of 2 patches could not be judged" in err
    assert "  cannot be read\n    its body is format=flowed: the mailer re-wrapped" in out
    assert "  - mm/hole_walks.c:29:" in out  # the patch before it was judged
    assert snapshot(repo) == before


def test_a_message_without_any_patch(tmp_path):
    path = tmp_path / "cover.eml"
    path.write_bytes(mail("[PATCH 0/2] mm: demo walks", COVER, 0).as_bytes())
    with pytest.raises(SeriesError, match=r"no patches given \(1 message\(s\) without a diff\)"):
        load([path])


def test_already_applied_is_told_from_a_conflict(repo, patches, tmp_path, capsys):
    """The tree has patch 1 already: a reverse check says so, and patch 2 is judged."""
    git(repo, "cherry-pick", "topic~1")
    before = snapshot(repo)
    code, out, err = run(capsys, "series", *map(str, patches), "--tree", str(repo))
    assert code == 1 and err == ""
    assert "  already applied\n    it applies in reverse: the tree has it\n" in out
    assert f"  + mm/page_walks.c:{new_walk_line()}:" in out
    assert snapshot(repo) == before


def test_offset_findings_point_where_the_hunk_landed(repo, patches, capsys):
    """The tree has seven more lines above the walk than the patch knows: the patch
    applies at an offset, and the finding and its quote carry the real line numbers."""
    edit(repo / "mm/page_walks.c", "#include <linux/mm.h>\n",
         "#include <linux/mm.h>\n" + "/* padding */\n" * 7)
    git(repo, "commit", "-qam", "mm: pad")
    [result] = judged(repo, [patches[1]])
    landed = int(re.search(r"^@@ -(\d+),", patches[1].read_text(), re.M)[1]) + 7
    assert result.status == "applied at an offset"
    assert result.notes == (f"mm/page_walks.c: hunk 1 at line {landed} (offset +7 lines)",)
    [change] = result.introduced
    assert change.finding.location.line == new_walk_line() + 7
    assert change.in_hunk and change.quote()[0].startswith(f"@@ -{landed},")
    assert change.quote()[-1] == "+\t\tClearPageReserved(pfn_to_page(pfn));"
    code, out, _ = run(capsys, "series", str(patches[1]), "--tree", str(repo), "-f", "email")
    reply = email.message_from_string(out, policy=email.policy.default)
    assert f"> @@ -{landed},3 +{landed},12 @@" in reply.get_content()


def test_fuzz_is_said_and_judged(repo, patches):
    """A context line of the tree differs: the patch applies with fuzz, says where, and
    its fix is still seen."""
    edit(repo / "mm/hole_walks.c", "\tunsigned long pfn = start_pfn;\n",
         "\tunsigned long pfn = start_pfn; /* first */\n")
    git(repo, "commit", "-qam", "mm: a comment")
    [result] = judged(repo, [patches[0]])
    assert result.status == "applied with fuzz"
    assert result.notes == (
        "mm/hole_walks.c: hunk 1 at line 26: 1 of 6 lines differ from the tree",
    )
    [removed] = result.removed
    assert removed.finding.location.function == "mark_range"
    assert removed.hunk.lines[0][0] == " \tunsigned long pfn = start_pfn; /* first */"


def test_renamed_file_keeps_its_findings(repo, tmp_path):
    git(repo, "checkout", "-qb", "rename")
    git(repo, "mv", "mm/hole_walks.c", "mm/holes.c")
    git(repo, "commit", "-qm", "mm: rename hole_walks.c")
    edit(repo / "mm/holes.c", "#include <linux/mm.h>\n", "#include <linux/mm.h>\n\n")
    git(repo, "mv", "mm/page_walks.c", "mm/walks.c")
    git(repo, "commit", "-qam", "mm: rename page_walks.c, with a change")
    git(repo, "checkout", "-q", "master")
    out = tmp_path / "rename"
    git(repo, "format-patch", "-q", "-M", "-o", str(out), "master..rename")
    pure, changed = judged(repo, sorted(out.glob("*.patch")))
    assert pure.status == changed.status == "applied"
    assert pure.introduced == pure.removed == changed.introduced == changed.removed == ()
    assert pure.moved > 0 and changed.moved > 0


@pytest.mark.parametrize(
    ("arch", "preset", "note"),
    [("powerpc", "ppc64", ""), ("arm64", "arm64-4k", ""),
     ("arm", None, "no geometry preset for arch/arm/; judged under every preset")],
)
def test_the_geometry_follows_the_architecture(repo, tmp_path, arch, preset, note):
    walk = (f"arch/{arch}/mm/walk.c", "#include <linux/mm.h>\n\nvoid reserve_node(pg_data_t *p)\n"
            "{\n\tunsigned long pfn;\n\n"
            "\tfor (pfn = p->node_start_pfn; pfn < pgdat_end_pfn(p); pfn++)\n"
            "\t\tSetPageReserved(pfn_to_page(pfn));\n}\n")
    git(repo, "checkout", "-qb", arch)
    (repo / walk[0]).parent.mkdir(parents=True)
    (repo / walk[0]).write_text(walk[1])
    git(repo, "add", ".")
    git(repo, "commit", "-qm", f"{arch}: reserve nodes")
    git(repo, "checkout", "-q", "master")
    out = tmp_path / arch
    git(repo, "format-patch", "-q", "-o", str(out), f"master..{arch}")
    [result] = judged(repo, sorted(out.glob("*.patch")))
    assert result.preset == preset
    assert result.notes == ((note,) if note else ())
    [change] = result.introduced
    if preset:
        assert change.finding.verdict.preset == preset


def judged(tree: Path, files: list[Path]):
    from kscan.engine import Options
    from kscan.review.config import Config
    from kscan.review.review import review

    return review(tree, load(files).patches, Options(jobs=1), Config()).patches
