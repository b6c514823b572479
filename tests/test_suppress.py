"""Inline `kscan: ignore` comments and baseline files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kscan.cli import main
from kscan.findings import Finding, Level, Location
from kscan.suppress import (
    BaselineError,
    drop_inline,
    ignored_ids,
    read_baseline,
    subtract,
    write_baseline,
)

DEMO = Path(__file__).parent / "fixtures" / "demo"


def finding(line: int, rule: str = "KS001", source: str = "x = pfn_to_page(pfn);") -> Finding:
    return Finding(rule, "pfn-walk-unchecked", "pfn-walk", Level.HIGH, Level.HIGH, "walk",
                   Location("mm/a.c", line, 2, "f"), source)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.mark.parametrize(
    ("line", "ids"),
    [
        ("\tfoo(); /* kscan: ignore KS001 -- checked by the caller */", {"KS001"}),
        ("// kscan: ignore KS001, ks003", {"KS001", "KS003"}),
        ("/* kscan:ignore KS002 */", {"KS002"}),
        ("/* kscan: ignore everything */", set()),
        ("\tfoo();", set()),
    ],
)
def test_ignore_comments(line, ids):
    assert ignored_ids(line) == ids


def test_inline_comment_on_or_above_the_line(tmp_path):
    (tmp_path / "mm").mkdir()
    (tmp_path / "mm/a.c").write_text(
        "a; /* kscan: ignore KS001 -- hotplug lock held */\n"
        "/* kscan: ignore KS001 -- range comes from memblock */\n"
        "b;\n"
        "c;\n"
        "d; /* kscan: ignore KS003 */\n"
    )
    kept = drop_inline([finding(n) for n in (1, 3, 4, 5)], tmp_path)
    assert [f.location.line for f in kept] == [4, 5]


def test_subtract_is_a_multiset_difference():
    a, b = finding(10), finding(20, source="y = pfn_to_page(pfn);")
    moved = finding(99)  # same fingerprint as a: only the line differs
    assert subtract([a, a, b], [moved]) == [a, b]
    assert subtract([a, b], [a.fingerprint, b.fingerprint]) == []


def test_baseline_round_trip(tmp_path):
    path = tmp_path / "baseline.json"
    write_baseline(path, [finding(3), finding(3)])
    assert read_baseline(path) == [finding(3).fingerprint] * 2
    assert json.loads(path.read_text())["findings"][0]["path"] == "mm/a.c"


@pytest.mark.parametrize("text", ["{", "[]", '{"kscan-baseline": 1, "findings": [{}]}'])
def test_bad_baseline(tmp_path, text):
    path = tmp_path / "baseline.json"
    path.write_text(text)
    with pytest.raises(BaselineError):
        read_baseline(path)


def test_cli_baseline_shows_only_new_findings(tmp_path, capsys):
    tree = tmp_path / "linux"
    shutil.copytree(DEMO, tree)
    baseline = tmp_path / "kscan-baseline.json"
    code, out, _ = run(capsys, str(tree), "-q", "--format", "json")
    found = len(json.loads(out)["findings"])
    code, _, _ = run(capsys, str(tree), "-q", "--write-baseline", str(baseline))
    assert code == 0 and len(read_baseline(baseline)) == found > 0
    code, out, _ = run(capsys, str(tree), "-q", "--baseline", str(baseline))
    assert code == 0 and "No findings." in out
    source = tree / "mm/hole_walks.c"
    source.write_text("/* a line that shifts the rest */\n" + source.read_text()
                      + "void more(unsigned long s, unsigned long e)\n{\n"
                        "\tfor (; s < e; s++)\n\t\tpoison_page(pfn_to_page(s));\n}\n")
    code, out, _ = run(capsys, str(tree), "-q", "--baseline", str(baseline), "--fail-on", "any")
    assert code == 1 and out.startswith("Unknown (1)\n\nmm/hole_walks.c\nmm/hole_walks.c:")
    assert "more()" in out and "1 finding in 1 file" in out


def test_cli_inline_comment(tmp_path, capsys):
    tree = tmp_path / "linux"
    shutil.copytree(DEMO, tree)
    source = tree / "mm/hole_walks.c"
    source.write_text(source.read_text().replace(
        "\t\tSetPageReserved(pfn_to_page(pfn)); /* expect: KS001 */",
        "\t\t/* kscan: ignore KS001 -- the caller passes a memblock range */\n"
        "\t\tSetPageReserved(pfn_to_page(pfn));",
    ))
    code, out, _ = run(capsys, str(tree / "mm/hole_walks.c"), "-q")
    left = source.read_text().count("expect: KS001")  # the silenced one lost its marker
    assert code == 1 and "mark_range" not in out and f"{left} findings" in out


def test_cli_bad_baseline_is_one_line(tmp_path, capsys):
    code, out, err = run(capsys, str(DEMO), "-q", "--baseline", str(tmp_path / "none.json"))
    assert code == 2 and out == ""
    assert err.startswith("kscan: error: cannot read baseline") and err.count("\n") == 1
