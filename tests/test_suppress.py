"""Inline `kscan: ignore` comments and baseline files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kscan.cli import main
from kscan.findings import Finding, Level, Location
from kscan.review.suppress import (
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
    kept, warnings = drop_inline([finding(n) for n in (1, 3, 4, 5)], tmp_path)
    assert [f.location.line for f in kept] == [4, 5]
    assert warnings == [
        "mm/a.c:5: 'kscan: ignore KS003' names KS003, not KS001; "
        "the KS001 finding on line 5 is still reported"
    ]


@pytest.mark.parametrize(
    ("comment", "problem"),
    [
        ("/* kscan: ignore KS010 */", "'kscan: ignore KS010' names KS010, which is no rule "
                                      "(nearest: KS001)"),
        ("/* kscan: ignore KS01 -- checked */", "names KS01, which is no rule (nearest: KS001)"),
        ("/* kscan: ingore KS001 */", "'kscan: ingore KS001' is not read as a suppression: "
                                      "write 'kscan: ignore KS001'"),
        ("// kscan ignore KS001", "write 'kscan: ignore KS001'"),
        ("/* kscna: ignore KS001 */", "write 'kscan: ignore KS001'"),
        ("/* kscan: ignore pfn-walk-unchecked */", "write 'kscan: ignore KS001'"),
        ("/* kscan: ignore */", "write 'kscan: ignore KS001'"),
        ("/* kscan: ignore KS004 */", "names KS004, not KS001"),
    ],
)
def test_a_suppression_that_does_not_suppress_is_named(tmp_path, comment, problem):
    (tmp_path / "mm").mkdir()
    (tmp_path / "mm/a.c").write_text(f"\t{comment}\n\tx = pfn_to_page(pfn);\n")
    kept, [warning] = drop_inline([finding(2)], tmp_path)
    assert kept == [finding(2)]
    assert warning.startswith("mm/a.c:1: ") and problem in warning
    assert warning.endswith("; the KS001 finding on line 2 is still reported")


@pytest.mark.parametrize(
    "comment",
    ["/* KCSAN: ignore the data race, it is benign */", "/* see kasan: ignored pages */",
     "/* kscan: ignore KS001 */"],
)
def test_other_comments_and_working_suppressions_warn_nothing(tmp_path, comment):
    (tmp_path / "mm").mkdir()
    (tmp_path / "mm/a.c").write_text(f"\t{comment}\n\tx = pfn_to_page(pfn);\n"
                                     "\ty = 1; /* kscan: ignore KS003 */\n"
                                     "\tx = pfn_to_page(pfn + 1);\n")
    _, warnings = drop_inline([finding(2), finding(4)], tmp_path)
    assert warnings == []


def test_subtract_is_a_multiset_difference():
    a, b = finding(10), finding(20, source="y = pfn_to_page(pfn);")
    moved = finding(99)  # same fingerprint as a: only the line differs
    assert subtract([a, a, b], [moved]) == [a, b]
    assert subtract([a, b], [a.fingerprint, b.fingerprint]) == []


def test_baseline_round_trip(tmp_path):
    path = tmp_path / "baseline.json"
    write_baseline(path, [finding(3), finding(3)])
    known = read_baseline(path)
    assert known.fingerprints == [finding(3).fingerprint] * 2 and known.notes == []
    assert json.loads(path.read_text())["findings"][0]["path"] == "mm/a.c"
    commented = finding(5, source="x = pfn_to_page( pfn ); /* ok */")
    assert known.new([commented, finding(7, source="x = pfn_to_page(pfn + 1);")]) == [
        finding(7, source="x = pfn_to_page(pfn + 1);")
    ]


def test_version_1_baseline_still_matches_as_written(tmp_path):
    """kscan 0.1 hashed the source line with its comments: such a baseline keeps hiding
    what it hid, and says how to move on."""
    import hashlib

    old = hashlib.sha256(b"KS001\0mm/a.c\0f\0x = pfn_to_page(pfn); /* ok */")
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"kscan-baseline": 1, "findings": [
        {"fingerprint": old.hexdigest()[:32], "rule": "KS001", "path": "mm/a.c"}]}))
    known = read_baseline(path)
    seen = finding(9, source="\tx = pfn_to_page(pfn);   /* ok */")
    assert known.new([seen, finding(9)]) == [finding(9)]
    assert "version 1 baseline" in known.notes[0] and "--write-baseline" in known.notes[0]


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
    assert code == 0 and len(read_baseline(baseline).fingerprints) == found > 0
    code, out, _ = run(capsys, str(tree), "-q", "--baseline", str(baseline))
    assert code == 0 and "No findings." in out
    source = tree / "mm/hole_walks.c"
    source.write_text("/* a line that shifts the rest */\n" + source.read_text()
                      + "void more(unsigned long s, unsigned long e)\n{\n"
                        "\tfor (; s < e; s++)\n\t\tpoison_page(pfn_to_page(s));\n}\n")
    code, out, _ = run(capsys, str(tree), "-q", "--baseline", str(baseline), "--fail-on", "any")
    assert code == 1 and out.startswith("Unknown (1)\n\nmm/hole_walks.c\nmm/hole_walks.c:")
    assert "more()" in out and "1 finding in 1 file" in out


def test_cli_baseline_ignores_comments_and_spacing_not_code(tmp_path, capsys):
    tree = tmp_path / "linux"
    shutil.copytree(DEMO, tree)
    baseline = tmp_path / "kscan-baseline.json"
    run(capsys, str(tree), "-q", "--write-baseline", str(baseline))
    source = tree / "mm/hole_walks.c"
    walk = "\t\tSetPageReserved(pfn_to_page(pfn)); /* expect: KS001 */"
    text = source.read_text()
    source.write_text(text.replace(walk, "\t\tSetPageReserved( pfn_to_page(pfn) ); /* ok */"))
    code, out, _ = run(capsys, str(tree), "-q", "--baseline", str(baseline), "--fail-on", "any")
    assert code == 0 and "No findings." in out
    source.write_text(text.replace(walk, "\t\tSetPageReserved(pfn_to_page(pfn + 1));"))
    code, out, _ = run(capsys, str(tree), "-q", "--baseline", str(baseline), "--fail-on", "any")
    assert code == 1 and "mark_range()" in out and "1 finding in 1 file" in out


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


def test_cli_warns_of_a_misspelt_suppression(tmp_path, capsys):
    tree = tmp_path / "linux"
    shutil.copytree(DEMO, tree)
    source = tree / "mm/hole_walks.c"
    walk = "\t\tSetPageReserved(pfn_to_page(pfn)); /* expect: KS001 */"
    source.write_text(source.read_text().replace(walk, "\t\t/* kscan: ignore KS01 */\n" + walk))
    line = source.read_text().splitlines().index(walk) + 1
    code, out, err = run(capsys, str(source))
    assert code == 1 and "mark_range()" in out
    assert (f"kscan: warning: mm/hole_walks.c:{line - 1}: 'kscan: ignore KS01' names KS01, "
            f"which is no rule (nearest: KS001); the KS001 finding on line {line} is still "
            "reported\n") in err


def test_cli_bad_baseline_is_one_line(tmp_path, capsys):
    code, out, err = run(capsys, str(DEMO), "-q", "--baseline", str(tmp_path / "none.json"))
    assert code == 2 and out == ""
    assert err.startswith("kscan: error: cannot read baseline") and err.count("\n") == 1


def test_a_long_lines_comments_are_read_once_for_all_its_findings(tmp_path, monkeypatch):
    """Minified code: a whole file on one line, thousands of findings on it.  Its
    comments were read again for each finding (findings x line length)."""
    from kscan.review import suppress

    (tmp_path / "mm").mkdir()
    (tmp_path / "mm/a.c").write_text("/* kscan: ignore KS003 */ " + "x = pfn_to_page(pfn); " * 500)
    reads: list[str] = []
    for name in ("ignored_ids", "misread_suppression"):
        real = getattr(suppress, name)
        monkeypatch.setattr(suppress, name, lambda *a, real=real: reads.append(a[0]) or real(*a))
    kept, warnings = drop_inline([finding(1) for _ in range(500)], tmp_path)
    assert len(kept) == 500 and len(reads) == 2  # its ids, and why KS003 is not KS001
    assert warnings == [
        "mm/a.c:1: 'kscan: ignore KS003' names KS003, not KS001; the KS001 finding on "
        "line 1 is still reported"
    ] * 500
