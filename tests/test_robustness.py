"""Pathological input: huge, deep, odd or hostile files and trees.

Every case gives a one-line warning or a clean result, the run goes on with the other
files, nothing is written into the tree and nothing from the tree is executed.  The
expensive cases (a 50 MB file, deep loop nests) are marked slow.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from snippets import WALK, WALK_LINE
from typer.testing import CliRunner

import kscan.facts.workers
import kscan.reading
from kscan.cli import app
from kscan.facts.extract import extract
from kscan.facts.records import FileFacts
from kscan.facts.workers import Problem, facts_for
from kscan.parse.parser import new_parser, parse

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DEMO = TESTS / "fixtures" / "demo"
HOLE_WALKS = DEMO / "mm" / "hole_walks.c"
KSCAN = shutil.which("kscan", path=str(Path(sys.executable).parent)) or "kscan"


# --- helpers -------------------------------------------------------------------------


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def scan(*args: str):
    """`kscan scan ARGS` in-process, JSON, one job, no tree: (exit code, report, warnings);
    the exit code says whether anything was found (--fail-on any)."""
    argv = ["scan", *args, "-f", "json", "-j", "1", "--kernel-version", "6.12", "--fail-on", "any"]
    result = CliRunner().invoke(app, argv)
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1), result.stderr
    warnings = [
        line.removeprefix("kscan: warning: ")
        for line in result.stderr.splitlines()
        if line.startswith("kscan: warning: ")
    ]
    return result.exit_code, json.loads(result.stdout), warnings


def kscan_process(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """The `kscan` console script: `python -m kscan` would put cwd (the tree) on sys.path."""
    return subprocess.run(
        [KSCAN, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry below root (symlinks not followed): kind, size, mtime, content."""
    state = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                body = os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                body = path.read_bytes()
            else:
                body = None
            key = str(path.relative_to(root))
            state[key] = (stat.S_IFMT(info.st_mode), info.st_size, info.st_mtime_ns, body)
    return state


def facts_of(tmp_path: Path, name: str, content: bytes) -> FileFacts | Problem:
    path = write(tmp_path / name, content)
    return facts_for(str(path), name)


def findings_of(report: dict) -> list[tuple[str, int, str, str | None]]:
    return sorted(
        (f["path"], f["line"], f["rule_id"], f.get("function")) for f in report["findings"]
    )


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- deep nesting: the Python side never recurses ------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        b"int f(void)\n{\n\treturn " + b"(" * 10_000 + b"1" + b")" * 10_000 + b";\n}\n",
        b"void f(void)\n" + b"{" * 10_000 + b"}" * 10_000 + b"\n",
        b"{" * 10_000 + b"\n",
        b"x = " + b"(" * 10_000 + b"\n",
        b")" * 10_000 + b"}" * 10_000 + b"\n",
        b"void f(void)\n{\n\tfor (pfn = 0; pfn < n; pfn++)\n\t\tg("
        + b"(" * 10_000
        + b"pfn_to_page(pfn)"
        + b")" * 10_000
        + b");\n}\n",
        b"int a[] = " + b"{" * 10_000 + b"1" + b"}" * 10_000 + b";\n",
    ],
    ids=["parens", "braces", "open-braces", "open-parens", "closers", "in-loop", "initialiser"],
)
def test_ten_thousand_nested_levels(tmp_path, source):
    facts = facts_of(tmp_path, "deep.c", source)
    assert isinstance(facts, FileFacts), facts  # a RecursionError would be a Problem
    assert facts.lines == source.count(b"\n") + 1


def test_ten_thousand_nested_calls_stay_linear(tmp_path):
    """Calls of a kernel-style body are read from its bytes: their argument lists are
    matched once per body, not searched for per call (which took 20 s here)."""
    source = b"void f(void)\n{\n\tg(" + b"h(" * 10_000 + b"1" + b")" * 10_000 + b");\n}\n"
    started = time.perf_counter()
    facts = facts_of(tmp_path, "calls.c", source)
    assert time.perf_counter() - started < 5
    calls = facts.functions[0].calls
    assert len(calls) == 10_001 and calls[-1].args_text == "(1)"


def test_nested_loops_and_ifs_stay_cheap(tmp_path):
    """Guards and nested loops are looked up by bisect: 200 levels take well under a second."""
    n = 200
    ifs = (
        b"void f(unsigned long n)\n{\n\tunsigned long pfn;\n\tfor (pfn = 0; pfn < n; pfn++) {\n"
        + b"if (pfn_valid(pfn)) {\nx(pfn);\n" * n
        + b"}\n" * n
        + b"}\n}\n"
    )
    loops = b"void g(void)\n{\n" + b"for (pfn = 0; pfn < n; pfn++) {\n" * n + b"}\n" * n + b"}\n"
    parser = new_parser()
    for source, count in ((ifs, 1), (loops, n)):
        started = time.perf_counter()
        facts = extract("nest.c", parse(parser, source))
        assert len(facts.loops) == count
        assert time.perf_counter() - started < 10


# --- odd files --------------------------------------------------------------------------


def test_one_megabyte_line(tmp_path):
    line = b"static int table[] = { " + b"1, " * 350_000 + b"};"
    facts = facts_of(tmp_path, "long.c", line + b"\n" + WALK.encode())
    assert isinstance(facts, FileFacts)
    assert [lp.span.start_line for lp in facts.loops] == [2 + 3]


@pytest.mark.parametrize("content", [b"", b"}}}}", b"\n", b"\r\n\r\n", b"#endif\n#else\n"])
def test_degenerate_files(tmp_path, content):
    facts = facts_of(tmp_path, "odd.c", content)
    assert isinstance(facts, FileFacts)
    assert facts.functions == [] and facts.loops == []


def test_nul_bytes(in_tmp):
    """A NUL early on marks a binary file; one later on is parsed around, never a crash."""
    write(in_tmp / "src" / "early.c", WALK.encode() + b"\0\0\0" + WALK.encode())
    padding = b"/* " + b"x" * 9000 + b" */\n"
    write(in_tmp / "src" / "late.c", padding + WALK.encode() + b"\0int x;\n")
    code, report, warnings = scan("src")
    assert code == 1
    assert warnings == ["src/early.c: binary file, skipped"]
    assert report["stats"]["skipped"] == 1
    assert findings_of(report) == [("src/late.c", WALK_LINE + 1, "KS001", "mark")]


def test_crlf_file_reports_the_same_lines(in_tmp):
    lf = HOLE_WALKS.read_bytes()
    assert b"\r" not in lf
    write(in_tmp / "lf" / "hole_walks.c", lf)
    write(in_tmp / "crlf" / "hole_walks.c", lf.replace(b"\n", b"\r\n"))
    _, lf_report, _ = scan("lf")
    _, crlf_report, _ = scan("crlf")
    want = [(line, rule, fn) for _, line, rule, fn in findings_of(lf_report)]
    got = [(line, rule, fn) for _, line, rule, fn in findings_of(crlf_report)]
    assert len(want) >= 3
    assert got == want


def test_file_over_the_size_limit_is_skipped_with_a_warning(in_tmp, monkeypatch):
    monkeypatch.setattr(kscan.facts.workers, "MAX_FILE_BYTES", 1 << 20)
    write(in_tmp / "src" / "big.c", WALK + " " * (3 << 20))
    write(in_tmp / "src" / "walk.c", WALK)
    code, report, warnings = scan("src")
    assert code == 1
    assert warnings == ["src/big.c: cannot read: file too large (3 MB; the limit is 1 MB)"]
    assert report["stats"]["skipped"] == 1
    assert findings_of(report) == [("src/walk.c", WALK_LINE, "KS001", "mark")]


def test_pipes_and_devices_are_skipped_not_read(in_tmp):
    """Reading a named pipe waits for a writer, and reading /dev/zero never ends: named
    on the command line, or reached by a symlink in the tree, each is skipped with a
    warning.  In a subprocess, so that a hang fails the test instead of stopping it."""
    write(in_tmp / "src" / "walk.c", WALK)
    os.mkfifo(in_tmp / "src" / "pipe.c")
    (in_tmp / "src" / "to_pipe.c").symlink_to(in_tmp / "src" / "pipe.c")
    done = kscan_process("src", "src/pipe.c", "/dev/zero", "-f", "json", "--fail-on", "any",
                         cwd=in_tmp, timeout=60)
    assert done.returncode == 1, done.stderr
    assert [f["path"] for f in json.loads(done.stdout)["findings"]] == ["src/walk.c"]
    warnings = [line for line in done.stderr.splitlines() if "kscan: warning: src/" in line
                or "/dev/zero" in line]
    assert warnings == [
        "kscan: warning: /dev/zero: not a regular file, skipped",
        "kscan: warning: src/pipe.c: not a regular file, skipped",
        f"kscan: warning: src/to_pipe.c: skipped symlink to {in_tmp}/src/pipe.c, not a file",
    ]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["series", "{pipe}", "--tree", "{demo}"], "cannot read {pipe}: not a regular file"),
        (["series", "/dev/zero", "--tree", "{demo}"], "cannot read /dev/zero: not a regular file"),
        (["model", "--layout", "{pipe}"], "not a regular file"),
        (["scan", "{demo}/mm", "--baseline", "/dev/zero"], "cannot read baseline /dev/zero"),
    ],
    ids=["series-pipe", "series-device", "layout-pipe", "baseline-device"],
)
def test_a_pipe_or_device_named_as_an_input_is_one_line_of_error(in_tmp, args, error):
    """A patch, a layout or a baseline that is a pipe or a device: read, it would wait
    for a writer or never end."""
    os.mkfifo(in_tmp / "pipe")
    values = {"pipe": str(in_tmp / "pipe"), "demo": str(TESTS / "fixtures" / "demo")}
    done = kscan_process(*(a.format(**values) for a in args), cwd=in_tmp, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("kscan: error: ") and "Traceback" not in done.stderr
    assert error.format(**values) in done.stderr


def test_a_pipe_in_place_of_a_file_is_refused_when_read(tmp_path):
    """Found as a file, a pipe by the time a worker opens it: refused, not waited on
    (an alarm ends the wait if it is not)."""
    os.mkfifo(tmp_path / "late.c")

    def waited(signum: int, frame: object) -> None:
        raise TimeoutError("read_source waited on a pipe")

    previous = signal.signal(signal.SIGALRM, waited)
    signal.alarm(10)
    try:
        with pytest.raises(OSError, match="not a regular file"):
            kscan.facts.workers.read_source(str(tmp_path / "late.c"))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- a hostile tree: everything at once --------------------------------------------------


def hostile_tree(root: Path, outside: Path) -> Path:
    """A tree with one real finding among every kind of odd entry."""
    write(root / "mm" / "walk.c", WALK)
    write(root / "mm" / "empty.c", "")
    write(root / "mm" / "closers.c", "}}}}")
    write(root / "mm" / "crlf.c", WALK.replace("\n", "\r\n"))
    write(root / "mm" / "binary.c", b"\x7fELF\0\0\0" + bytes(range(256)) * 8)
    write(root / "mm" / "deep.c", "{" * 10_000 + "}" * 10_000 + "\n")
    write(root / "mm" / "long.c", "int x = " + "1 + " * 300_000 + "1;\n")
    write(root / "mm" / "latin1.c", "/* \xe9t\xe9 */\n".encode("latin-1"))
    write(root / "mm" / "secret.c", WALK)
    (root / "mm" / "dir.c").mkdir()
    write(root / "mm" / "dir.c" / "inner.h", "#define A 1\n")
    (root / "mm" / "sub").mkdir()
    (root / "mm" / "sub" / "loop").symlink_to("..", target_is_directory=True)
    write(outside / "leak.c", WALK)
    (root / "mm" / "out").symlink_to(outside, target_is_directory=True)
    (root / "mm" / "out.c").symlink_to(outside / "leak.c")
    (root / "mm" / "dangling.c").symlink_to(root / "nowhere.c")
    return root


def refuse(monkeypatch, suffix: str) -> None:
    """We may run as root, who reads mode-000 files: make the worker's open() refuse."""
    real_open = open

    def refusing_open(path, *args, **kwargs):
        if os.fspath(path).endswith(suffix):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(kscan.reading, "open", refusing_open, raising=False)


def test_hostile_tree_warns_and_goes_on(tmp_path, monkeypatch):
    tree = hostile_tree(tmp_path / "tree", tmp_path / "outside")
    refuse(monkeypatch, "secret.c")
    before = snapshot(tree)
    outside_before = snapshot(tmp_path / "outside")
    monkeypatch.chdir(tree)
    code, report, warnings = scan("mm")
    assert code == 1
    expected = {
        "mm/binary.c: binary file, skipped",
        "mm/secret.c: cannot read: Permission denied",
        "mm/dangling.c: skipped broken symlink",
        f"mm/sub/loop: skipped symlink loop back to {(tree / 'mm').resolve()}",
        f"mm/out: skipped symlink to {(tmp_path / 'outside').resolve()}, outside "
        f"{(tree / 'mm').resolve()}",
        f"mm/out.c: skipped symlink to {(tmp_path / 'outside' / 'leak.c').resolve()}, outside "
        f"{(tree / 'mm').resolve()}",
    }
    assert expected <= set(warnings), warnings
    assert all(": " in w and "\n" not in w for w in warnings)
    found = findings_of(report)
    assert ("mm/walk.c", WALK_LINE, "KS001", "mark") in found
    assert ("mm/crlf.c", WALK_LINE, "KS001", "mark") in found
    assert not any("leak" in path or "secret" in path for path, *_ in found)
    # every regular .c of mm/ and the header inside dir.c/ was looked at, once
    assert report["stats"]["files"] + report["stats"]["skipped"] >= 10
    assert snapshot(tree) == before
    assert snapshot(tmp_path / "outside") == outside_before


def test_hostile_tree_in_a_subprocess_has_no_traceback(tmp_path):
    tree = hostile_tree(tmp_path / "tree", tmp_path / "outside")
    before = snapshot(tree)
    for args in (["."], ["mm", "-j", "2", "-f", "sarif"], ["-v", "-f", "json", "mm"]):
        proc = kscan_process(*args, "--fail-on", "any", cwd=tree)
        assert proc.returncode == 1, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert all(line.startswith("kscan: ") for line in proc.stderr.splitlines()), proc.stderr
    assert snapshot(tree) == before


# --- never run code from the tree or the patches ------------------------------------------


def booby_trapped(root: Path, marker: Path) -> None:
    """Every way a tree could ask to have code run, each touching `marker` if it is."""
    shell = f"#!/bin/sh\ntouch {marker}\n"
    python = f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
    makefile = (root / "Makefile").read_text()
    (root / "Makefile").write_text(
        makefile + f"\nall:\n\ttouch {marker}\n$(shell touch {marker})\n"
    )
    for name, text in (
        ("setup.py", python),
        ("conftest.py", python),
        ("sitecustomize.py", python),
        ("kscan.py", python),
        ("kscan/__init__.py", python),
        ("scripts/checkpatch.pl", shell),
        ("scripts/kconfig/merge_config.sh", shell),
        ("mm/gen.sh", shell),
        ("git", shell),
    ):
        path = write(root / name, text)
        path.chmod(0o755)
    write(root / ".kscan.toml", f'# touch {marker}\nexclude = ["*.sh"]\n')
    write(root / ".gitattributes", "*.c filter=trap diff=trap\n")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def trapped_repo(tmp_path, monkeypatch) -> tuple[Path, Path, list[Path]]:
    """A git repository of the demo tree full of traps, plus a patch for `kscan series`."""
    for var in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{var}_NAME", "Test Author")
        monkeypatch.setenv(f"GIT_{var}_EMAIL", "test@example.org")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    marker = tmp_path / "MARKER"
    root = tmp_path / "linux"
    shutil.copytree(DEMO, root)
    git(root, "init", "-q", "-b", "master")
    git(root, "add", ".")
    git(root, "commit", "-qm", "demo tree")
    booby_trapped(root, marker)
    git(root, "add", ".")
    git(root, "commit", "-qm", "traps")
    # hooks a checkout or apply would run (they live in the repository, not the commit)
    for hook in (
        "post-checkout",
        "pre-applypatch",
        "post-applypatch",
        "applypatch-msg",
        "pre-commit",
        "post-index-change",
        "reference-transaction",
    ):
        path = write(root / ".git" / "hooks" / hook, f"#!/bin/sh\ntouch {marker}\n")
        path.chmod(0o755)
    git(root, "config", "core.fsmonitor", str(root / ".git" / "hooks" / "post-checkout"))
    git(root, "checkout", "-qb", "topic")
    with (root / "mm" / "page_walks.c").open("a") as f:
        f.write("\n" + WALK.replace("mark", "mark_more"))
    git(root, "commit", "--no-verify", "-qam", "mm: add mark_more()")
    git(root, "checkout", "-q", "master")
    if marker.exists():  # our own git calls ran the hooks: start from a clean slate
        marker.unlink()
    patches = tmp_path / "patches"
    git(root, "format-patch", "-q", "-o", str(patches), "master..topic")
    return root, marker, sorted(patches.glob("*.patch"))


def test_nothing_from_the_tree_or_patches_is_run(trapped_repo, tmp_path):
    root, marker, patches = trapped_repo
    assert patches
    before = snapshot(root)
    for args in (
        ["."],
        ["-f", "json", "-j", "2", "mm", "include"],
        ["scan", "--graph-scope", "tree", "mm"],
        ["hotspots", "mm"],
        ["series", "-t", ".", *map(str, patches)],
        ["diff", "-t", ".", "master..topic"],
    ):
        proc = kscan_process(*args, cwd=root)
        assert proc.returncode in (0, 1), (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert not marker.exists(), f"kscan {' '.join(args)} ran code from the tree"
    after = snapshot(root)
    # git bookkeeping of a throwaway worktree may come and go under .git; nothing else
    assert {k: v for k, v in after.items() if not k.startswith(".git")} == {
        k: v for k, v in before.items() if not k.startswith(".git")
    }
    assert not list((root / "mm").glob("__pycache__"))
    assert not (root / "__pycache__").exists()


# --- slow --------------------------------------------------------------------------------


def generated_c(path: Path, megabytes: int) -> Path:
    """Kernel-style C: copies of the demo's walks, renamed, with small helpers between."""
    body = HOLE_WALKS.read_text()
    with path.open("w") as f:
        size = i = 0
        while size < megabytes << 20:
            chunk = body + f"\nstatic int filler_{i}(int a)\n{{\n\treturn a + {i};\n}}\n"
            f.write(chunk)
            size += len(chunk)
            i += 1
    return path


@pytest.mark.slow
def test_fifty_megabyte_file_is_skipped_quickly(in_tmp):
    write(in_tmp / "src" / "walk.c", WALK)
    generated_c(in_tmp / "src" / "huge.c", 50)
    started = time.perf_counter()
    proc = kscan_process(
        "src", "-f", "json", "--kernel-version", "6.12", "--fail-on", "any", cwd=in_tmp
    )
    assert time.perf_counter() - started < 60
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        "kscan: warning: src/huge.c: cannot read: file too large (50 MB; the limit is 32 MB)"
    ]
    report = json.loads(proc.stdout)
    assert findings_of(report) == [("src/walk.c", WALK_LINE, "KS001", "mark")]


@pytest.mark.slow
def test_file_just_under_the_limit_is_analysed(tmp_path):
    """A dense 16 MB C file (about 50k loops) completes: no quadratic cost per loop."""
    path = generated_c(tmp_path / "big.c", 16)
    started = time.perf_counter()
    facts = facts_for(str(path), "big.c")
    assert isinstance(facts, FileFacts)
    assert len(facts.loops) > 40_000
    assert time.perf_counter() - started < 120


@pytest.mark.slow
def test_generated_register_header(tmp_path):
    """24 MB of #defines, like the AMD asic_reg headers: parsed, under the limit."""
    path = tmp_path / "regs_sh_mask.h"
    with path.open("w") as f:
        size = i = 0
        while size < 24 << 20:
            line = f"#define mmGCVM_L2_PROTECTION_FAULT_CNTL_{i:06d}__FIELD_MASK    0x{i:08x}L\n"
            f.write(line)
            size += len(line)
            i += 1
    started = time.perf_counter()
    facts = facts_for(str(path), "regs_sh_mask.h")
    assert isinstance(facts, FileFacts)
    assert time.perf_counter() - started < 60


@pytest.mark.slow
def test_deep_loop_and_if_nests(tmp_path):
    parser = new_parser()
    n = 1000
    ifs = (
        b"void f(unsigned long n)\n{\n\tunsigned long pfn;\n\tfor (pfn = 0; pfn < n; pfn++) {\n"
        + b"if (pfn_valid(pfn)) {\nx(pfn);\n" * n
        + b"}\n" * n
        + b"}\n}\n"
    )
    started = time.perf_counter()
    facts = extract("ifs.c", parse(parser, ifs))
    assert len(facts.loops) == 1
    assert time.perf_counter() - started < 60
