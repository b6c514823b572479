"""The per-file budget (kscan/facts/budget.py): a file that takes more CPU time or
memory than --file-budget is reported as not analysed, in the warnings, the text
report, JSON and SARIF, and the scan goes on; --strict makes that exit 3.  Small
budgets make it quick: the budget is checked at the end of a file too, so a file over
it is caught whatever its timing."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import jsonschema
import pytest
from snippets import WALK, WALK_LINE, many_walks
from typer.testing import CliRunner

from kscan.cli import app
from kscan.facts.budget import (
    DEFAULT_FILE_BUDGET,
    NO_BUDGET,
    FileBudget,
    OverBudget,
    parse_file_budget,
    within,
)

SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
# A budget check that lands in a gc callback (hypothesis installs one) cannot raise
# there; Python reports it as unraisable, and the next check raises again.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def scan(*args: str):
    """`kscan scan ARGS` in-process: (exit status, stdout, stderr); every finding
    counts for the exit status, whatever the model's verdict."""
    result = CliRunner().invoke(
        app, ["scan", *args, "--kernel-version", "6.12", "--fail-on", "any"]
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code, result.stdout, result.stderr


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("kscan: warning: ")]


def busy(cpu_seconds: float) -> None:
    """Python work for about cpu_seconds of CPU."""
    end = time.process_time() + cpu_seconds
    while time.process_time() < end:
        sum(range(1000))


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    """src/heavy.c (10,000 walks) beside src/walk.c (one), from the current directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "heavy.c").write_text(many_walks(10_000))
    (tmp_path / "src" / "walk.c").write_text(WALK)
    return tmp_path


# --- the budget itself -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds", "megabytes"),
    [
        ("30s", 30, DEFAULT_FILE_BUDGET.megabytes),
        ("2min", 120, DEFAULT_FILE_BUDGET.megabytes),
        ("512MB", DEFAULT_FILE_BUDGET.seconds, 512),
        ("1.5GB", DEFAULT_FILE_BUDGET.seconds, 1536),
        ("0.5s, 2gb", 0.5, 2048),
        ("none", None, None),
    ],
)
def test_budget_from_the_command_line(text, seconds, megabytes):
    assert parse_file_budget(text) == FileBudget(seconds, megabytes)


@pytest.mark.parametrize("text", ["", "30", "30 sec", "0s", "-1s", "1TB", "30s,,1GB", "fast"])
def test_a_bad_budget_is_one_line_of_usage_error(text, tmp_path):
    with pytest.raises(ValueError, match="bad --file-budget"):
        parse_file_budget(text)
    code, out, err = scan(str(tmp_path), "--file-budget", text)
    assert (code, out) == (2, "")
    assert err.startswith("kscan: error: bad --file-budget") and err.count("\n") == 1


def test_a_busy_block_is_stopped_within_a_tick_of_its_budget():
    started = time.process_time()
    with (
        pytest.raises(OverBudget, match="over the budget of 0.05 s of CPU"),
        within(FileBudget(0.05, None)),
    ):
        busy(5)
    assert time.process_time() - started < 1


def test_the_end_of_a_block_counts_too():
    """A block that ends between two ticks, over its budget, is over it."""
    with pytest.raises(OverBudget), within(FileBudget(0.001, None)):
        busy(0.01)


def test_memory_growth_is_checked():
    with (
        pytest.raises(OverBudget, match="over the budget of 1 MB of memory"),
        within(FileBudget(None, 1)),
    ):
        hold = [bytearray(1 << 20) for _ in range(64)]
        busy(0.2)
        assert hold


def test_within_leaves_the_signal_as_it_found_it():
    before = signal.getsignal(signal.SIGPROF)
    with within(FileBudget(10, None)):
        busy(0.01)
    assert signal.getsignal(signal.SIGPROF) is before
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)


def test_no_budget_and_other_threads_run_unchecked():
    with within(NO_BUDGET), within(None):
        busy(0.05)
    failed = []

    def in_a_thread() -> None:
        try:
            with within(FileBudget(0.001, None)):  # signals reach the main thread only
                busy(0.05)
        except OverBudget as err:
            failed.append(err)

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert failed == []


# --- a scan with a file over budget ----------------------------------------------------


def test_a_file_over_budget_is_not_analysed_and_the_scan_goes_on(tree, report_validator):
    code, out, err = scan("src", "-f", "json", "-j", "1", "--no-cache", "--file-budget", "0.01s")
    assert code == 1  # walk.c's finding
    report = json.loads(out)
    reason = "not analysed: over the budget of 0.01 s of CPU (--file-budget)"
    assert report["not_analysed"] == [{"path": "src/heavy.c", "reason": reason}]
    assert warnings(err) == [f"kscan: warning: src/heavy.c: {reason}"]
    assert f"src/heavy.c: {reason}" in report["warnings"]
    assert report["stats"]["skipped"] == 1
    assert [(f["path"], f["line"]) for f in report["findings"]] == [("src/walk.c", WALK_LINE)]
    assert list(report_validator.iter_errors(report)) == []


def test_memory_budget(tree):
    code, out, _ = scan("src", "-f", "json", "-j", "1", "--no-cache", "--file-budget", "1MB")
    reasons = {f["path"]: f["reason"] for f in json.loads(out)["not_analysed"]}
    assert reasons == {
        "src/heavy.c": "not analysed: over the budget of 1 MB of memory (--file-budget)"
    }


def test_complete_coverage_adds_nothing_to_the_report(tree):
    (tree / "src" / "heavy.c").unlink()
    code, out, _ = scan("src", "-f", "json", "-j", "1", "--no-cache", "--strict")
    assert code == 1
    assert "not_analysed" not in json.loads(out)  # a complete scan's JSON is as before


def test_strict_exits_3_when_coverage_is_incomplete(tree):
    budget = ("--file-budget", "0.01s", "-j", "1", "--no-cache")
    assert scan("src", *budget)[0] == 1
    assert scan("src", *budget, "--strict")[0] == 3
    (tree / "src" / "walk.c").unlink()
    assert scan("src", *budget)[0] == 0
    assert scan("src", *budget, "--strict")[0] == 3


def test_the_text_report_names_the_files_not_analysed(tree):
    code, out, _ = scan("src", "-j", "1", "--no-cache", "--file-budget", "0.01s", "-q")
    assert "Not analysed, so findings there are missing: 1 file" in out
    assert "  src/heavy.c: not analysed: over the budget of 0.01 s of CPU (--file-budget)" in out


def test_sarif_notifies_each_file_not_analysed_with_its_location(tree):
    code, out, _ = scan("src", "-f", "sarif", "-j", "1", "--no-cache", "--file-budget", "0.01s")
    log = json.loads(out)
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(log)) == []
    [note] = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["descriptor"] == {"id": "not-analysed"}
    assert note["level"] == "warning"
    assert note["message"]["text"].startswith("src/heavy.c: not analysed: over the budget")
    artifact = note["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact["uri"] == "src/heavy.c"


def test_a_file_over_budget_is_not_cached_as_analysed(tree):
    (tree / "src" / "heavy.c").write_text(many_walks(2000))
    over = ("src", "-f", "json", "-j", "1", "--file-budget", "0.01s")
    for _ in range(2):  # the second run reads the cache the first one wrote
        report = json.loads(scan(*over)[1])
        assert [f["path"] for f in report["not_analysed"]] == ["src/heavy.c"]
    report = json.loads(scan("src", "-f", "json", "-j", "1", "--file-budget", "none")[1])
    assert "not_analysed" not in report
    assert len(report["findings"]) == 2001


def test_the_budget_holds_in_worker_processes(tree):
    """33 files and two workers: the pool runs (parse_all), and the worker that gave up
    on heavy.c parses the files after it right (its parser is a fresh one)."""
    for i in range(32):
        (tree / "src" / f"walk{i}.c").write_text(WALK)
    code, out, _ = scan("src", "-f", "json", "-j", "2", "--no-cache", "--file-budget", "0.01s")
    report = json.loads(out)
    assert [f["path"] for f in report["not_analysed"]] == ["src/heavy.c"]
    assert len(report["findings"]) == 33
    assert {f["line"] for f in report["findings"]} == {WALK_LINE}


def test_a_follow_up_round_reports_a_file_over_budget(tmp_path, monkeypatch):
    """A helper of a helper is parsed in a later prefilter round; one over budget there
    is reported like any other."""
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    # walk.c checks with ok2(), valid.c defines ok1() (the first round parses both);
    # helpers.c defines ok2() over ok1(): only a later round, asking for ok1, reads it
    (src / "walk.c").write_text(
        "void mark(unsigned long start, unsigned long end)\n{\n\tunsigned long pfn;\n"
        "\tfor (pfn = start; pfn < end; pfn++)\n\t\tif (ok2(pfn))\n"
        "\t\t\tSetPageReserved(pfn_to_page(pfn));\n}\n"
    )
    (src / "valid.c").write_text("bool ok1(unsigned long pfn)\n{\n\treturn pfn_valid(pfn);\n}\n")
    filler = "".join(f"int fill{i}(int pfn)\n{{\n\treturn pfn + {i};\n}}\n" for i in range(20_000))
    (src / "helpers.c").write_text(
        "bool ok2(unsigned long pfn)\n{\n\treturn ok1(pfn);\n}\n" + filler
    )
    code, out, _ = scan("src", "-f", "json", "-j", "1", "--no-cache")
    assert (code, json.loads(out)["findings"]) == (0, [])  # ok2 is a check: no finding
    code, out, _ = scan("src", "-f", "json", "-j", "1", "--no-cache", "--file-budget", "0.01s")
    report = json.loads(out)
    assert [f["path"] for f in report["not_analysed"]] == ["src/helpers.c"]
    assert [f["path"] for f in report["findings"]] == ["src/walk.c"]  # ok2 unknown now
