"""What the command line tells its user beyond the findings: baselines written and
applied, the config it read, the model's units, help and error texts, output that
reaches a pipe whole (issue #19's smaller points)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kscan.rules import RULES

from kscan.cli import main
from kscan.model import ModelContext, model_report
from kscan.review.suppress import read_baseline

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DEMO = TESTS / "fixtures" / "demo"
DEMO_MM = DEMO / "mm"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def piped(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`kscan ARGS | cat`: stdout is a pipe, in a terminal 80 columns wide."""
    return subprocess.run(
        [sys.executable, "-m", "kscan", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "argv", [[str(DEMO_MM), "--preset", "vax"], ["model", "--arch", "vax"]], ids=["scan", "model"]
)
def test_an_unknown_preset_names_the_memory_model_forms(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("kscan: error: unknown preset 'vax'") and len(err.splitlines()) == 1
    assert "x86_64:sparsemem" in err


def test_rules_reach_a_pipe_whole():
    proc = piped("rules")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for rule in RULES:
        line = next(line for line in lines if line.lstrip().startswith(rule.id))
        assert rule.name in line and rule.summary in line, line


def test_the_model_reaches_a_pipe_whole():
    proc = piped("model", "--arch", "x86_64")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    rows, _ = model_report(ModelContext.for_preset("x86_64"))
    for row in rows:
        assert any(all(cell in line for cell in row) for line in lines), row


@pytest.mark.parametrize("arch", ["x86_64", "arm64-64k"])
def test_model_max_order_stops_where_one_block_holds_all_memory(capsys, arch):
    limit = ModelContext.for_preset(arch).order_limit
    code, out, _ = run(capsys, "model", "--arch", arch, "--max-order", str(limit))
    assert code == 0
    assert f"[0x0, {1 << limit:#x}):" in out  # the one block: all memory below its end
    code, out, err = run(capsys, "model", "--arch", arch, "--max-order", str(limit + 1))
    assert code == 2 and out == ""
    assert err.startswith(
        f"kscan: error: --max-order {limit + 1} is past {limit}, where one "
        "block already holds all of the layout's memory"
    )


def test_model_without_a_path_models_the_tree_it_runs_in(capsys, monkeypatch):
    """tree-5.10 predates 5.15: holes inside a zone had no initialised struct pages."""
    tree = TESTS / "fixtures" / "tree-5.10"
    code, named, _ = run(capsys, "model", str(tree))
    assert code == 0 and "before 5.15" in named
    monkeypatch.chdir(tree / "mm")
    code, out, _ = run(capsys, "model")
    assert code == 0
    assert out == named


@pytest.mark.parametrize("arch", ["x86_64", "arm64-4k"])
def test_the_model_says_its_ranges_are_pfns(capsys, arch):
    code, out, _ = run(capsys, "model", "--arch", arch)
    assert code == 0
    assert "Ranges are page frame numbers (PFNs), [start, end)." in out
    assert "MAX_ORDER blocks (PFNs) contain" in out
    assert not re.search(r"0x[0-9a-f]+-0x[0-9a-f]+", out)  # the layout's byte notation
    holes = ModelContext.for_preset(arch).memmap.holes
    assert ", ".join(map(str, holes)) in out


@pytest.fixture
def demo_tree(tmp_path) -> Path:
    root = tmp_path / "linux"
    shutil.copytree(DEMO, root)
    return root


def test_a_config_file_says_it_was_applied(demo_tree, capsys):
    config = demo_tree / ".kscan.toml"
    config.write_text('exclude = ["mm/page_walks.c"]\n[severity]\nKS002 = "medium"\n')
    code, out, err = run(capsys, str(demo_tree / "mm"), "-j", "1")
    assert code == 1 and "mm/page_walks.c" not in out
    assert err.splitlines() == [f"kscan: note: {config} sets exclude, severity"]
    for quiet in (["-q"], ["-f", "json"], ["-f", "sarif"]):
        code, _, err = run(capsys, str(demo_tree / "mm"), "-j", "1", *quiet)
        assert code == 1 and err == "", quiet
    config.write_text('preset = "vax"\n')  # an error stays the one line
    code, _, err = run(capsys, str(demo_tree / "mm"), "-j", "1")
    assert code == 2 and len(err.splitlines()) == 1 and "unknown preset 'vax'" in err
    config.unlink()
    code, _, err = run(capsys, str(demo_tree / "mm"), "-j", "1")
    assert code == 1 and err == ""


@pytest.mark.parametrize("tree", ["demo", "tree-6.1"])
def test_the_report_is_the_same_from_a_cold_cache_and_a_warm_one(capsys, private_cache, tree):
    path = str(TESTS / "fixtures" / tree)
    code, cold, _ = run(capsys, path, "-j", "1", "-q")
    assert private_cache.exists()
    code, warm, _ = run(capsys, path, "-j", "1", "-q")
    assert warm == cold
    assert re.search(r"^Scanned \d+ files, .*\(\d+ files? with parse errors", cold, re.M)


def test_baselines_say_what_they_wrote_and_hid(demo_tree, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    code, out, err = run(
        capsys, str(demo_tree / "mm"), "-j", "1", "--write-baseline", str(baseline)
    )
    written = len(read_baseline(baseline).fingerprints)
    assert code == 0 and out == "" and written > 1
    assert err == f"kscan: wrote {written} findings to {baseline}\n"
    code, out, err = run(capsys, str(demo_tree / "mm"), "-j", "1", "--baseline", str(baseline))
    assert code == 0 and "No findings." in out
    assert err == f"kscan: note: {baseline} hid {written} known findings\n"
    code, out, err = run(
        capsys, str(demo_tree / "mm"), "-j", "1", "-q", "--baseline", str(baseline)
    )
    assert err == ""


def test_the_same_baseline_to_read_and_write_is_updated_in_place(demo_tree, tmp_path, capsys):
    """--baseline X --write-baseline X: X gets the current findings, and the message says
    what the report against the old X would have: how many are new, how many gone."""
    baseline = tmp_path / "baseline.json"
    hole_walks = demo_tree / "mm" / "hole_walks.c"
    run(capsys, str(hole_walks), "-j", "1", "-q", "--write-baseline", str(baseline))
    before = len(read_baseline(baseline).fingerprints)
    fixed = hole_walks.read_text().replace(
        "\twhile (pfn < end_pfn) {\n",
        "\twhile (pfn < end_pfn) {\n\t\tif (!pfn_valid(pfn))\n\t\t\tcontinue;\n",
        1,
    )
    assert fixed != hole_walks.read_text()
    hole_walks.write_text(fixed)  # mark_range() is fixed: one entry gone
    code, out, err = run(
        capsys,
        str(demo_tree / "mm"),
        "-j",
        "1",
        "--baseline",
        str(baseline),
        "--write-baseline",
        str(baseline),
    )
    after = len(read_baseline(baseline).fingerprints)
    new = after - (before - 1)
    assert code == 0 and out == "" and new > 0
    assert err == (
        f"kscan: wrote {after} findings to {baseline} "
        f"({baseline} had {before}: {new} new, 1 gone)\n"
    )
    code, out, err = run(capsys, str(demo_tree / "mm"), "-j", "1", "--baseline", str(baseline))
    assert code == 0 and "No findings." in out
