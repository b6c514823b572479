"""The series reports, fed a hand-built series: email and markdown against golden files,
SARIF against the 2.1.0 schema, HTML in headless Chromium.

Refresh the golden files with KSCAN_UPDATE_GOLDEN=1 and read the diff before committing.
"""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from kscan.findings import Finding, Level, Location, Verdict
from kscan.report import render_series
from kscan.results import (
    Change,
    HotspotRow,
    Hunk,
    Mail,
    Patch,
    PatchResult,
    Reply,
    RuleInfo,
    ScanResult,
    SeriesResult,
    Stats,
)
from kscan.review.series import parse_patch

GOLDEN = Path(__file__).parent / "golden"
DATA = Path(__file__).parent / "data"
SARIF_SCHEMA = DATA / "sarif-schema-2.1.0.json"

ADD_WALK = (DATA / "series" / "add-count_free_in_zone.diff").read_text()
FIX_WALK = (DATA / "series" / "fix-reset_range.diff").read_text()

KS001 = RuleInfo("KS001", "pfn-walk-unchecked", "pfn-walk", Level.HIGH, Level.MEDIUM,
                 "PFN walk may step into a memory hole.", "What: ...\n\nFix: pfn_valid().")


def ks001(path: str, line: int, function: str, source: str, extent: str, severity: Level,
          verdict: Verdict | None = None) -> Finding:
    return Finding(
        "KS001", "pfn-walk-unchecked", "pfn-walk", severity, Level.MEDIUM,
        f"pfn_to_page(pfn) on every PFN with no validity check: walks {extent}; a hole or an "
        "absent/offline section there has no initialised memmap",
        Location(path, line, 20, function), source, verdict=verdict,
    )


def change(finding: Finding, patch: Patch, introduced: bool) -> Change:
    hunks = [h for h in patch.hunks if h.path == finding.location.path]
    side = 2 if introduced else 1
    covering = [h for h in hunks if any(line[side] == finding.location.line for line in h.lines)]
    return Change(finding, (covering or hunks or [None])[0], introduced)


def mail(number: int) -> Mail:
    return Mail(f"<2024-{number}-jane@example.org>", ("<2024-0-jane@example.org>",),
                "Jane Doe <jane@example.org>", "linux-mm@kvack.org",
                "Andrew Morton <akpm@linux-foundation.org>, jane@example.org",
                "Mon, 1 Jan 2024 10:00:00 +0000", (number, 2))


def series() -> SeriesResult:
    add = replace(parse_patch("0001-mm-add-count_free_in_zone.patch",
                              "[PATCH 1/2] mm: add count_free_in_zone()", ADD_WALK), mail=mail(1))
    fix = replace(parse_patch("0002-mm-compaction-check-pfn_valid.patch",
                              "[PATCH 2/2] mm/compaction: check pfn_valid() in reset_range()",
                              FIX_WALK), mail=mail(2))
    zone_walk = ks001(
        "mm/page_alloc.c", 1518, "count_free_in_zone",
        "\t\tif (PageBuddy(pfn_to_page(pfn)))", "a zone/node span, holes and absent sections "
        "included", Level.HIGH,
        Verdict("breaks", "arm64-4k", "pfn 0x80400 lies in a hole between two memblock "
                "regions of node 0; its struct page is never initialised"),
    )
    drain = ks001("mm/page_alloc.c", 2054, "drain_range", "\t\tdrain_one(pfn_to_page(pfn));",
                  "a caller-supplied range", Level.MEDIUM)
    reset = ks001("mm/compaction.c", 301, "reset_range", "\t\tclear_skip(pfn_to_page(pfn));",
                  "a caller-supplied range", Level.MEDIUM)
    meta = ScanResult([], [KS001], "/src/linux", "6.12.0", "inclusive-renamed",
                      "include/linux/mmzone.h:30", Stats(), [], "0.1.0")
    return SeriesResult(
        [
            PatchResult(add, (change(zone_walk, add, True), change(drain, add, True)), ()),
            PatchResult(fix, (), (change(reset, fix, False),)),
        ],
        meta,
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("KSCAN_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_email_golden():
    text = render_series(series(), "email", Reply("Rev Iewer <rev@example.org>", "Thanks, Rev"))
    check_golden("series.email", text)
    body = [line for line in text.splitlines() if not line.startswith((">", "Subject:"))]
    assert max(map(len, body)) <= 72


def test_email_is_an_mbox_of_replies_threaded_under_each_patch(tmp_path):
    """Each reply parses back with the email package, answers its patch's Message-ID
    and goes to its author with the list in Cc; each hunk is quoted once."""
    path = tmp_path / "replies.mbox"
    path.write_text(render_series(series(), "email", Reply(signoff="Thanks, Rev")))
    replies = [email.message_from_bytes(bytes(m), policy=email.policy.default)
               for m in mailbox.mbox(path)]
    assert [r["Subject"] for r in replies] == [
        "Re: [PATCH 1/2] mm: add count_free_in_zone()",
        "Re: [PATCH 2/2] mm/compaction: check pfn_valid() in reset_range()",
    ]
    for number, reply in enumerate(replies, start=1):
        assert reply["In-Reply-To"] == f"<2024-{number}-jane@example.org>"
        assert reply["References"].split() == ["<2024-0-jane@example.org>",
                                               f"<2024-{number}-jane@example.org>"]
        assert reply["To"] == "Jane Doe <jane@example.org>"
        assert reply["Cc"] == "linux-mm@kvack.org, Andrew Morton <akpm@linux-foundation.org>"
        assert "From" not in reply  # the sending tool's own
        body = reply.get_content()
        assert body.startswith("On Mon, 1 Jan 2024 10:00:00 +0000, Jane Doe <jane@example.org> "
                               "wrote:\n> --- a/")
        changes = series().patches[number - 1].introduced + series().patches[number - 1].removed
        assert body.count("> @@ ") == len({c.hunk.header for c in changes})  # each hunk once
        assert body.count("> +++ ") == len({c.hunk.path for c in changes})
        assert body.endswith("\n\nThanks, Rev\n\n-- \nkscan 0.1.0, Linux 6.12.0\n")
    first = replies[0].get_content()
    # the finding comes right under the line it is about
    assert "> +\t\tif (PageBuddy(pfn_to_page(pfn)))\n\nkscan KS001" in first
    second = replies[1].get_content()
    # a removed finding: quoted with the lines that changed it, the thanks under it
    assert (">  \tfor (; pfn < end; pfn++) {\n> +\t\tif (!pfn_valid(pfn))\n> +\t\t\tcontinue;\n"
            ">  \t\tclear_skip(pfn_to_page(pfn));\n\nThanks: this removes") in second


def test_markdown_golden():
    check_golden("series.md", render_series(series(), "markdown"))


def test_quote_ends_at_the_finding_line():
    zone_walk = series().patches[0].introduced[0]
    assert zone_walk.in_hunk
    assert zone_walk.quote()[-1] == "+\t\tif (PageBuddy(pfn_to_page(pfn)))"
    assert zone_walk.quote()[0].startswith("@@ -1510,6 +1510,16 @@")


def test_sarif_is_valid_and_marks_new_and_absent():
    log = json.loads(render_series(series(), "sarif"))
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(log)
    results = log["runs"][0]["results"]
    assert [(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["baselineState"]) for r in results] == [
        ("mm/compaction.c", "absent"), ("mm/page_alloc.c", "new"), ("mm/page_alloc.c", "new"),
    ]
    assert all(r["partialFingerprints"]["kscanFingerprint/v2"] for r in results)


def test_sarif_gives_the_series_net_effect():
    """A walk patch 1 adds and patch 2 takes out again is neither new nor absent."""
    whole = series()
    added = whole.patches[0].introduced[0]
    taken_out = Change(replace(added.finding, location=replace(added.finding.location, line=9)),
                       None, introduced=False)
    whole.patches[1] = replace(whole.patches[1], removed=(*whole.patches[1].removed, taken_out))
    results = json.loads(render_series(whole, "sarif"))["runs"][0]["results"]
    states = [(r["locations"][0]["physicalLocation"]["region"]["startLine"], r["baselineState"])
              for r in results]
    assert states == [(301, "absent"), (2054, "new")]


def test_markdown_keeps_code_spans_literal():
    whole = series()
    change = whole.patches[0].introduced[0]
    spanned = replace(change.finding, message="struct page arithmetic `page + i` over *huge* pages")
    whole.patches[0] = replace(whole.patches[0], introduced=(replace(change, finding=spanned),))
    text = render_series(whole, "markdown")
    assert "struct page arithmetic `page + i` over \\*huge\\* pages" in text


def chromium() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
                None)


def test_html_is_self_contained_and_shows_the_findings_table(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_series(series(), "html"))
    text = page.read_text()
    assert "<table>" in text and "count_free_in_zone" in text and "http" not in text
    assert "<script" not in text and "<link" not in text
    browser = chromium()
    if browser is None:
        pytest.skip("no chromium binary: apt-get install -y chromium")
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1200,900", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    if os.environ.get("KSCAN_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["KSCAN_KEEP_SCREENSHOT"])


def test_html_draws_the_hotspot_chains():
    chained = replace(series(), hotspots=[
        HotspotRow("count_free_in_zone", "mm/page_alloc.c", 40, 6.0,
                   ("__alloc_pages", "count_free_in_zone")),
    ])
    text = render_series(chained, "html")
    assert "<h2>Hotspots</h2>" in text and "<svg" in text and "http" not in text
    assert text.index("__alloc_pages") < text.index("count_free_in_zone</text>")


def test_series_with_no_changes():
    empty = SeriesResult([PatchResult(Patch("a.patch", "[PATCH] mm: tidy", "", (), ()), (), ())],
                         series().meta)
    assert render_series(empty, "email") == ""  # an empty mbox
    assert "No finding changes." in render_series(empty, "markdown")
    assert "No finding changes." in render_series(empty, "html")
    failed = replace(empty.patches[0], status="does not apply", notes=("mm/a.c: hunk 1 <...>",))
    page = render_series(replace(empty, patches=[failed]), "html")
    assert "<b>does not apply</b><ul><li>mm/a.c: hunk 1 &lt;...&gt;</li></ul>" in page
    assert "*does not apply*" in render_series(replace(empty, patches=[failed]), "markdown")


def test_hunk_is_plain_data():
    assert Hunk("mm/a.c", "@@ -1 +1 @@", (("+x", None, 1),)).lines[0][0] == "+x"
