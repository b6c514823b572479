"""One cache serves every command: a scan's report is the same whatever warmed it.

Each test runs a scan cold, then another command (or the same one on other paths or
rules) on an empty cache, then the scan again: its report, stats included, must be
the cold one.  The tree has the files that make a scan depend on more than its own
first round: one that only a follow-up round parses (outer.c, a validity helper's
helper) and one outside mm/ that only `--graph-scope tree` reads (it names a contig API
in a comment).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kscan import engine
from kscan.cli import app
from kscan.facts import cache

FIXTURES = Path(__file__).resolve().parent / "fixtures"

INNER = """\
struct page *lookup_inner(unsigned long pfn)
{
\tif (!pfn_valid(pfn))
\t\treturn NULL;
\treturn pfn_to_page(pfn);
}
"""
# names no validity check and no memmap accessor: no rule reports here
OUTER = """\
struct page *lookup_outer(unsigned long pfn)
{
\tstruct page *p = lookup_inner(pfn);

\tif (!p)
\t\treturn NULL;
\treturn p;
}
"""
WALK = """\
void scan_range(unsigned long s, unsigned long e)
{
\tunsigned long pfn;

\tfor (pfn = s; pfn < e; pfn++) {
\t\tstruct page *head = lookup_outer(pfn);

\t\tif (!head)
\t\t\tcontinue;
\t\ttouch(pfn_to_page(pfn));
\t}
}
"""
NOTES = """\
/* Buffers come from cma_alloc() in the platform code. */
int notes_count(int n)
{
\treturn n + 1;
}
"""
# touches the helper, the helper's helper and its caller: the series scans them together
PATCH = """\
--- a/mm/inner.c
+++ b/mm/inner.c
@@ -1,3 +1,4 @@
+/* the memmap of a valid PFN */
 struct page *lookup_inner(unsigned long pfn)
 {
 \tif (!pfn_valid(pfn))
--- a/mm/outer.c
+++ b/mm/outer.c
@@ -1,3 +1,4 @@
+/* the caller checks the page */
 struct page *lookup_outer(unsigned long pfn)
 {
 \tstruct page *p = lookup_inner(pfn);
--- a/mm/walk.c
+++ b/mm/walk.c
@@ -1,3 +1,4 @@
+/* walks a caller's range */
 void scan_range(unsigned long s, unsigned long e)
 {
 \tunsigned long pfn;
"""


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "linux"
    (root / "include" / "linux").mkdir(parents=True)
    shutil.copy(FIXTURES / "tree-6.12" / "Makefile", root)
    shutil.copy(FIXTURES / "tree-6.12" / "include" / "linux" / "mmzone.h", root / "include/linux")
    for rel, text in {
        "mm/inner.c": INNER,
        "mm/outer.c": OUTER,
        "mm/walk.c": WALK,
        "drivers/misc/notes.c": NOTES,
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (tmp_path / "series.patch").write_text(PATCH)
    return root


def kscan(tree: Path, *argv: str) -> str:
    """kscan's output for argv, with paths relative to the tree."""
    args = [str(tree / a) if (tree / a.split("=")[0]).exists() else a for a in argv]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    return result.stdout


def report(tree: Path, *scan: str) -> dict[str, object]:
    """The scan's JSON report, all but the time it took."""
    out = json.loads(kscan(tree, "scan", *scan, "-f", "json", "-j", "1"))
    assert isinstance(out["stats"], dict)
    del out["stats"]["seconds"]
    return dict(out)


WARMERS = {
    "scan": ("scan", "mm", "-q", "-j", "1"),
    "hotspots": ("hotspots", "mm", "-j", "1"),
    "graph": ("graph", "mm", "-f", "json", "-j", "1"),
    "model what-if": ("model", "--max-order", "11", "mm"),  # re-judges the scan's findings
    "series": ("series", "../series.patch", "--tree", ".", "-j", "1"),
    "graph-scope tree": ("scan", "mm", "--graph-scope", "tree", "-q", "-j", "1"),
    "hotspots graph-scope tree": ("hotspots", "mm", "--graph-scope", "tree", "-j", "1"),
}
# each scan after the commands that once changed its report
CASES = [
    *[(name, ("mm/outer.c",)) for name in ("scan", "hotspots", "graph", "model what-if", "series")],
    *[(name, ("--select", "KS007", "mm")) for name in ("scan", "hotspots", "graph")],
    *[(name, ("drivers",)) for name in ("graph-scope tree", "hotspots graph-scope tree")],
    *[(name, (".",)) for name in ("graph-scope tree", "hotspots graph-scope tree")],
]


@pytest.mark.parametrize(
    ("warmer", "scan"), CASES, ids=[f"{w}-then-{' '.join(s)}" for w, s in CASES]
)
def test_scan_after_another_command_reports_as_cold(tree, warmer, scan):
    cold = report(tree, *scan)
    cache.clear()
    kscan(tree, *WARMERS[warmer])
    assert report(tree, *scan) == cold


def test_a_warm_scan_parses_nothing_in_its_follow_up_rounds(tree, monkeypatch):
    """The follow-up round's answers are cached too: outer.c is not parsed again."""
    cold = report(tree, "mm")
    parsed: list[str] = []
    real = engine.facts_from_bytes

    def counted(raw: bytes, rel: str, **options: object) -> object:
        parsed.append(rel)
        return real(raw, rel, **options)

    monkeypatch.setattr(engine, "facts_from_bytes", counted)
    assert report(tree, "mm") == cold
    assert parsed == []
