"""The command line: exit codes, one-line errors, every format, and hostile input.

Most tests run the typer app in-process (CliRunner on the "scan" subcommand, or
kscan.cli.main() for the default-command dispatch); a few run `python -m kscan` as a
subprocess for what only a real process shows: the default command, a piped stderr
without a progress bar, and no traceback anywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
from kscan.rules import RULES
from snippets import WALK, WALK_LINE
from typer.testing import CliRunner

import kscan.facts.workers
import kscan.reading
from kscan.cli import app, main

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DEMO = TESTS / "fixtures" / "demo"
DEMO_MM = DEMO / "mm"
TREE_510_WALKS = TESTS / "fixtures" / "tree-5.10" / "mm" / "page_alloc_walks.c"
HOLE_WALKS = DEMO_MM / "hole_walks.c"
SARIF_SCHEMA = TESTS / "data" / "sarif-schema-2.1.0.json"
EXPECT = re.compile(r"expect:\s*((?:KS\d{3}[\s,]*)+)")

HARMLESS = "int add(int a, int b)\n{\n\treturn a + b;\n}\n"


# --- helpers -------------------------------------------------------------------


def expected(directory: Path, prefix: str = "") -> Counter:
    """Findings per reported path that the `expect:` annotations below `directory` promise."""
    found = Counter()
    for path in directory.rglob("*.[ch]"):
        for line in path.read_text().splitlines():
            match = EXPECT.search(line)
            if match:
                rel = prefix + path.relative_to(directory).as_posix()
                found[rel] += len(re.findall(r"KS\d{3}", match.group(1)))
    return found


def expected_count(directory: Path) -> int:
    return expected(directory).total()


def demo_sources() -> list[str]:
    return sorted(f"mm/{p.name}" for p in DEMO_MM.glob("*.[ch]"))


def run(*args: str):
    """`kscan scan ARGS` in-process; the result has exit_code, stdout and stderr apart.
    Its exit code says whether anything was reported (--fail-on any); the tests of the
    exit status itself pass their own --fail-on, which comes last and wins."""
    return CliRunner().invoke(app, ["scan", "--fail-on", "any", *args])


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    """kscan.cli.main(argv), what the `kscan` command runs, in-process."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def run_process(*args: str, cwd: Path | None = None, env: dict | None = None):
    """`python -m kscan ARGS` as a real process with stdout and stderr piped."""
    return subprocess.run(
        [sys.executable, "-m", "kscan", *args],
        cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def lines(text: str) -> list[str]:
    return text.splitlines()


def assert_one_line_error(stderr: str, fragment: str) -> None:
    assert "Traceback" not in stderr
    assert len(lines(stderr)) == 1, stderr
    assert stderr.startswith("kscan: error: "), stderr
    assert fragment in stderr


def warnings_of(stderr: str) -> list[str]:
    return [line for line in lines(stderr) if line.startswith("kscan: warning: ")]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.fixture(scope="module")
def sarif_validator():
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_errors(validator, document) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture
def demo() -> Counter:
    """What demo/mm should report, read when the test runs (the fixture tree grows)."""
    want = expected(DEMO_MM, "mm/")
    assert len(want) >= 3
    return want


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Work in an empty directory outside any kernel tree, so paths are reported relative."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- exit codes and one-line errors -------------------------------------------


def test_clean_tree_exits_0(in_tmp):
    write(in_tmp / "src" / "add.c", HARMLESS)
    result = run("src", "-j", "1")
    assert result.exit_code == 0, result.stderr
    assert "No findings." in result.stdout
    # the file mentions nothing any rule looks for, so the prefilter does not parse it
    assert "Scanned 1 file, 0 functions, 0 loops" in result.stdout
    assert "0 parsed, the rest cannot matter to the rules" in result.stdout


def test_findings_exit_1(demo):
    result = run(str(DEMO_MM), "-j", "1")
    assert result.exit_code == 1
    assert f"{demo.total()} findings in {len(demo)} files" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["does/not/exist"], "no such file or directory: does/not/exist"),
        ([str(DEMO_MM), "--format", "xml"], "unknown format 'xml'"),
        ([str(DEMO_MM), "--select", "KS999"], "unknown rule 'KS999'"),
        ([str(DEMO_MM), "--select", "KS001", "--select", "nope"], "unknown rule 'nope'"),
        ([str(DEMO_MM), "--max-order-semantics", "sometimes"], "invalid --max-order-semantics"),
        ([str(DEMO_MM), "--kernel-version", "banana"], "invalid --kernel-version 'banana'"),
        ([str(DEMO_MM), "--kernel-version", "6"], "invalid --kernel-version '6'"),
        ([str(DEMO_MM), "--kernel-version", "6.1.2.3"], "invalid --kernel-version"),
    ],
    ids=[
        "missing-path",
        "unknown-format",
        "unknown-rule",
        "unknown-second-rule",
        "bad-semantics",
        "bad-version",
        "version-without-minor",
        "version-too-long",
    ],
)
def test_usage_errors_exit_2_with_one_line(args, fragment):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert_one_line_error(result.stderr, fragment)


def test_explain_unknown_rule_exits_2(capsys):
    code, out, err = run_main(["explain", "KS999"], capsys)
    assert code == 2
    assert out == ""
    assert_one_line_error(err, "unknown rule 'KS999'")


def test_main_dispatches_to_scan_and_exits_with_its_status(capsys, demo):
    code, out, err = run_main([str(DEMO_MM), "-f", "json", "-j", "1"], capsys)
    assert code == 1
    assert len(json.loads(out)["findings"]) == demo.total()
    code, out, err = run_main([str(DEMO_MM), "--select", "KS404"], capsys)
    assert code == 2
    assert_one_line_error(err, "unknown rule 'KS404'")


def test_long_error_stays_one_line_in_a_narrow_pipe(tmp_path):
    missing = tmp_path / ("deep" * 30) / "missing.c"
    proc = run_process(str(missing), env={"COLUMNS": "40"})
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, f"no such file or directory: {missing}")


# --- formats --------------------------------------------------------------------


def test_text_groups_findings_by_verdict_then_file_and_summarises(demo):
    result = run(str(DEMO_MM), "-f", "text", "-j", "1", "--all")
    assert result.exit_code == 1
    out = lines(result.stdout)
    files = sorted(demo)
    heading = re.compile(r"^(Breaks|Unknown|Safe by contract or by design) \((\d+)\)$")
    finding = re.compile(
        r"^(mm/\w+\.[ch]):\d+:\d+: KS00\d \[(high|medium|low)/(high|medium|low)\] "
    )
    # Breaks first, then unknown, then the safe ones; in each, a file is a header line
    # once and its findings follow it before the next header.
    sections = [heading.match(line) for line in out if heading.match(line)]
    titles = [m.group(1) for m in sections]
    assert titles == sorted(
        titles, key=["Breaks", "Unknown", "Safe by contract or by design"].index
    )
    count, current, seen = Counter(), None, set()
    for line in out:
        if heading.match(line):
            seen = set()
        elif line in files:
            assert line not in seen
            seen.add(current := line)
        elif match := finding.match(line):
            assert match.group(1) == current, line
            count[current] += 1
    assert count == demo
    assert sum(int(m.group(2)) for m in sections) == demo.total()
    assert f"{demo.total()} findings in {len(demo)} files" in out
    assert any(line.startswith("  by severity: high ") for line in out)
    assert any(line.startswith("  by verdict: breaks ") for line in out)
    assert any(line.startswith(f"Scanned {len(demo_sources())} files, ") for line in out)
    assert f"Tree: {DEMO}, kernel 6.12.0" in result.stdout
    assert "\x1b[" not in result.stdout  # no colour when not a terminal


def test_json_validates_against_the_packaged_schema(report_validator, demo):
    result = run(str(DEMO_MM), "-f", "json", "-j", "1")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert schema_errors(report_validator, report) == []
    assert report["tree"]["root"] == str(DEMO)
    assert report["tree"]["kernel_version"] == "6.12.0"
    assert report["tree"]["max_order_semantics"] == "inclusive-renamed"
    assert report["stats"]["files"] == len(demo_sources())
    assert Counter(f["path"] for f in report["findings"]) == demo
    assert [r["id"] for r in report["rules"]] == [r.id for r in RULES]


def test_sarif_validates_and_locates_results_relative_to_the_tree(sarif_validator, demo):
    result = run(str(DEMO_MM), "-f", "sarif", "-j", "1")
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    assert schema_errors(sarif_validator, log) == []
    (sarif_run,) = log["runs"]
    rule_ids = [rule["id"] for rule in sarif_run["tool"]["driver"]["rules"]]
    results = sarif_run["results"]
    assert len(results) == demo.total()
    base = sarif_run["originalUriBaseIds"]["SRCROOT"]["uri"]
    assert base == DEMO.as_uri() + "/"
    for res in results:
        assert res["ruleId"] in rule_ids
        assert rule_ids[res["ruleIndex"]] == res["ruleId"]
        assert res["partialFingerprints"], res
        assert all(isinstance(v, str) and v for v in res["partialFingerprints"].values())
        location = res["locations"][0]["physicalLocation"]
        uri = location["artifactLocation"]["uri"]
        assert uri in demo, uri
        assert location["artifactLocation"]["uriBaseId"] == "SRCROOT"
        assert location["region"]["startLine"] > 0
    fingerprints = [tuple(sorted(r["partialFingerprints"].items())) for r in results]
    assert len(set(fingerprints)) == len(fingerprints)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_output_file_gets_the_report_and_stdout_stays_empty(tmp_path, fmt, demo):
    target = tmp_path / f"report.{fmt}"
    result = run(str(DEMO_MM), "-f", fmt, "-o", str(target), "-j", "1")
    assert result.exit_code == 1
    assert result.stdout == ""
    written = target.read_text()
    if fmt == "text":
        assert f"{demo.total()} findings in {len(demo)} files" in written
    elif fmt == "json":
        assert len(json.loads(written)["findings"]) == demo.total()
    else:
        assert len(json.loads(written)["runs"][0]["results"]) == demo.total()


def test_output_into_a_missing_directory_exits_2(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "report.json"
    result = run(str(DEMO_MM), "-f", "json", "-o", str(target), "-j", "1")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert_one_line_error(result.stderr, f"cannot write {target}")
    assert not (tmp_path / "no").exists()


# --- bad input ------------------------------------------------------------------


def test_binary_file_is_skipped_with_one_warning(in_tmp, report_validator):
    write(in_tmp / "src" / "blob.c", b"int x;\0\0\0\x7fELF\x02\x01" + bytes(range(256)))
    write(in_tmp / "src" / "walk.c", WALK)
    result = run("src", "-f", "json", "-j", "1")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert [w for w in warnings_of(result.stderr) if "blob.c" in w] == [
        "kscan: warning: src/blob.c: binary file, skipped"
    ]
    report = json.loads(result.stdout)
    assert schema_errors(report_validator, report) == []
    assert report["stats"]["skipped"] == 1
    assert report["stats"]["files"] == 2  # both were looked at
    assert report["stats"]["parsed"] == 1  # the binary one was not parsed
    assert [(f["path"], f["line"], f["rule_id"]) for f in report["findings"]] == [
        ("src/walk.c", WALK_LINE, "KS001")
    ]


@pytest.mark.parametrize("command", ["hotspots", "graph"])
def test_a_ranking_warns_of_the_files_it_left_out(in_tmp, capsys, command):
    write(in_tmp / "src" / "blob.c", b"int x;\0\0\0\x7fELF\x02\x01")
    write(in_tmp / "src" / "walk.c", WALK)
    code, out, err = run_main([command, "src", "-j", "1", "--no-cache"], capsys)
    assert code == 0 and "mark" in out
    assert warnings_of(err) == ["kscan: warning: src/blob.c: binary file, skipped"]


def test_latin1_file_is_scanned_leniently(in_tmp):
    source = "/* r\xe9serv\xe9 by the firmware \xa9 */\n" + WALK
    write(in_tmp / "latin.c", source.encode("latin-1"))
    result = run("latin.c", "-f", "json", "-v", "-j", "1")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["stats"]["not_utf8"] == 1
    assert [(f["path"], f["line"], f["function"]) for f in report["findings"]] == [
        ("latin.c", WALK_LINE + 1, "mark")
    ]
    assert "kscan: parse: latin.c: not UTF-8, decoded leniently" in lines(result.stderr)


@pytest.mark.parametrize(
    "garbage",
    [
        "}}}{{ int ( ;; garbage @@@\n for (;;) {{{\n#if\n",
        "static void f(void) {\n\tif (x) {\n\t\tfor (;;\n",  # never closed
        '#define A(x) ((x)\n)))))) ] ] } } ;\n"unterminated\n',
        "{" * 2000 + "\n",
    ],
    ids=["garbage", "unclosed", "stray-closers", "deep-nesting"],
)
def test_gross_syntax_errors_do_not_crash(in_tmp, garbage):
    write(in_tmp / "bad.c", garbage)
    result = run("bad.c", "-f", "json", "-j", "1")
    assert result.exit_code in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["stats"]["files"] + report["stats"]["skipped"] == 1


def test_walk_after_garbage_is_still_found(in_tmp):
    write(in_tmp / "mixed.c", "}}}{{ int ( ;; garbage @@@\n#if\n" + WALK)
    result = run("mixed.c", "-f", "json", "-j", "1")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["stats"]["parse_error_files"] == 1
    assert [(f["line"], f["rule_id"]) for f in report["findings"]] == [(WALK_LINE + 2, "KS001")]


def test_empty_file_is_clean(in_tmp):
    write(in_tmp / "empty.c", "")
    result = run("empty.c", "-j", "1")
    assert result.exit_code == 0
    assert "No findings." in result.stdout
    assert "Scanned 1 file, 0 functions, 0 loops" in result.stdout


def test_unreadable_file_is_skipped_with_one_warning(in_tmp, monkeypatch):
    secret = write(in_tmp / "src" / "secret.c", WALK)
    write(in_tmp / "src" / "walk.c", WALK)
    if os.geteuid() == 0:  # root reads mode 000 files: make open() refuse instead
        real_open = open

        def refusing_open(path, *args, **kwargs):
            if os.fspath(path).endswith("secret.c"):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(kscan.reading, "open", refusing_open, raising=False)
    else:
        secret.chmod(0)
    try:
        result = run("src", "-f", "json", "-j", "1")
    finally:
        secret.chmod(0o644)
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert [w for w in warnings_of(result.stderr) if "secret.c" in w] == [
        "kscan: warning: src/secret.c: cannot read: Permission denied"
    ]
    report = json.loads(result.stdout)
    assert report["stats"]["skipped"] == 1
    assert [f["path"] for f in report["findings"]] == ["src/walk.c"]


def test_directory_symlink_loop_warns_and_terminates(tmp_path):
    tree = tmp_path / "tree"
    write(tree / "a" / "walk.c", WALK)
    (tree / "a" / "loop").symlink_to("..", target_is_directory=True)
    (tree / "a" / "self").symlink_to(".", target_is_directory=True)
    proc = run_process(".", "-f", "json", "-j", "1", "--fail-on", "any", cwd=tree)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    loops = [w for w in warnings_of(proc.stderr) if "symlink loop" in w]
    assert sorted(loops) == [
        f"kscan: warning: a/loop: skipped symlink loop back to {tree.resolve()}",
        f"kscan: warning: a/self: skipped symlink loop back to {(tree / 'a').resolve()}",
    ]
    report = json.loads(proc.stdout)
    assert report["stats"]["files"] == 1  # walk.c once, not once per alias
    assert [f["path"] for f in report["findings"]] == ["a/walk.c"]


# --- rules and explain ----------------------------------------------------------


def test_rules_lists_every_registered_rule():
    result = CliRunner().invoke(app, ["rules"])
    assert result.exit_code == 0
    listed = re.findall(r"^\s*(KS\d{3})\b", result.stdout, re.MULTILINE)
    assert {"KS001", "KS002", "KS003"} <= set(listed)
    assert listed == [rule.id for rule in RULES]


@pytest.mark.parametrize("name", ["KS001", "ks001", "pfn-walk-unchecked"])
def test_explain_prints_the_rule_doc(name, capsys):
    code, out, err = run_main(["explain", name], capsys)
    assert code in (0, None)
    assert err == ""
    first = lines(out)[0]
    assert first.startswith("KS001 pfn-walk-unchecked  [family pfn-walk, severity high")
    positions = [out.find(f"\n{section}:") for section in ("What", "Why", "Example", "Fix")]
    assert all(p > 0 for p in positions), positions
    assert positions == sorted(positions)


# --- no tree root ---------------------------------------------------------------


def test_lone_file_notes_the_missing_root_and_still_reports(in_tmp):
    shutil.copy(HOLE_WALKS, in_tmp / "hole_walks.c")
    result = run("hole_walks.c", "-f", "json", "-j", "1")
    assert result.exit_code == 1
    assert warnings_of(result.stderr) == [
        "kscan: warning: no kernel tree root found; pass --kernel-version / --max-order-semantics"
    ]
    report = json.loads(result.stdout)
    assert report["tree"]["root"] is None
    assert report["tree"]["kernel_version"] == "unknown"
    assert len(report["findings"]) == expected_count(in_tmp) > 0
    assert {f["rule_id"] for f in report["findings"]} == {"KS001"}


def test_kernel_version_makes_a_lone_block_walk_high_severity(in_tmp):
    shutil.copy(TREE_510_WALKS, in_tmp / "page_alloc_walks.c")
    want = expected_count(in_tmp)

    def ks002(*extra: str) -> tuple[list[dict], dict]:
        result = run("page_alloc_walks.c", "-f", "json", "-j", "1", *extra)
        assert result.exit_code == 1, result.stderr
        report = json.loads(result.stdout)
        return [f for f in report["findings"] if f["rule_id"] == "KS002"], report

    old, report = ks002("--kernel-version", "5.10")
    assert report["tree"]["kernel_version"] == "5.10.0"
    assert report["tree"]["max_order_semantics"] == "exclusive"
    assert len(old) == want > 0
    assert {f["severity"] for f in old} == {"high"}
    new, _ = ks002("--kernel-version", "6.12")
    assert len(new) == want
    assert {f["severity"] for f in new} == {"low"}


# --- end to end -----------------------------------------------------------------


def test_default_command_in_a_subprocess_has_no_progress_bar(demo):
    proc = run_process("tests/fixtures/demo/mm", "-f", "json")
    assert proc.returncode == 1
    assert len(json.loads(proc.stdout)["findings"]) == demo.total()
    # stderr is a pipe: no bar, no cursor control, and this tree has nothing to warn about.
    assert proc.stderr == ""


def test_no_arguments_scans_the_current_directory(tmp_path):
    write(tmp_path / "add.c", HARMLESS)
    proc = run_process("-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "No findings." in proc.stdout
    assert "Scanned 1 file" in proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize("walks", [0, 400], ids=["a line", "several pipe buffers"])
def test_the_report_reaches_a_buffered_pipe_whole(tmp_path, walks):
    """The command leaves with os._exit (kscan/__main__.py): what stdout buffered must be
    out first.  (This sandbox sets PYTHONUNBUFFERED, which would hide a lost buffer.)"""
    walkers = "".join(WALK.replace("mark(", f"mark{i}(") for i in range(walks))
    write(tmp_path / "mm" / "walks.c", HARMLESS + walkers)
    proc = run_process(
        "mm",
        "-f",
        "json",
        "-j",
        "1",
        "--fail-on",
        "any",
        cwd=tmp_path,
        env={"PYTHONUNBUFFERED": ""},
    )
    assert proc.returncode == (1 if walks else 0), proc.stderr
    assert len(json.loads(proc.stdout)["findings"]) == walks


def test_subprocess_usage_error_is_one_line():
    proc = run_process("tests/fixtures/demo/mm", "--format", "yaml")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert_one_line_error(proc.stderr, "unknown format 'yaml'")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    state = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory) / name
            info = path.lstat()
            state[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns)
    return state


def test_scan_never_writes_into_the_tree(tmp_path, monkeypatch):
    tree = tmp_path / "demo"
    shutil.copytree(DEMO, tree)
    before = snapshot(tree)
    assert len(before) >= 5
    monkeypatch.chdir(tree)
    for args in (
        ["mm"],
        ["mm", "-f", "json", "-v"],
        ["mm", "-f", "sarif"],
        [".", "-f", "json", "-o", str(tmp_path / "out.json")],
    ):
        result = run(*args)
        assert result.exit_code == 1, (args, result.stderr)
    assert snapshot(tree) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "out.json"]


def test_progress_bar_on_a_terminal(tmp_path):
    """stderr on a terminal shows rich's progress bar: it must draw, not crash (it was
    handed the function that makes the console instead of the console)."""
    import pty

    controller, terminal = pty.openpty()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "kscan", str(DEMO_MM), "-j", "1"],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=env,
        timeout=120,
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal's other end is closed: all read
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert b"internal error" not in shown, shown.decode(errors="replace")
    assert done.returncode == 1 and b"KS001" in done.stdout


PROVENANCE = Path(__file__).parent / "fixtures" / "provenance"


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [((), 1), (("--fail-on", "unknown"), 1), (("--fail-on", "high"), 1), (("--fail-on", "any"), 1)],
)
def test_the_exit_status_counts_breaks_unless_told_otherwise(fail_on, code):
    assert run(str(PROVENANCE), "-q", "-j", "1", *fail_on).exit_code == code


def test_a_tree_with_no_breaks_exits_clean_by_default(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(PROVENANCE, tree)
    shutil.rmtree(tree / "arch")
    for path in (tree / "mm").glob("*.c"):
        if path.name not in ("unknown.c", "reserved.c"):
            path.unlink()
    text = (tree / "mm" / "reserved.c").read_text()
    (tree / "mm" / "reserved.c").write_text(text.replace("zone_end_pfn(zone)", "cma->base_pfn + 1"))
    assert run(str(tree), "-q", "-j", "1", "--fail-on", "breaks").exit_code == 0
    assert run(str(tree), "-q", "-j", "1", "--fail-on", "unknown").exit_code == 1
    assert run(str(tree), "-q", "-j", "1", "--fail-on", "never").exit_code == 2
