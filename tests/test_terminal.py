"""The commands as a user types them: on a pseudo-terminal, with the progress bar live.

Everything else in the suite pipes stdout and stderr, and with a pipe kscan draws no
progress bar; the bar's code ran nowhere until a user's terminal (issue #19: the README's
first command crashed there).  So each command a user starts by hand runs here once.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pexpect
import pytest
from snippets import WALK
from test_series import NEW_WALK, git

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DEMO = TESTS / "fixtures" / "demo"
EXPECT = re.compile(r"expect:\s*(KS\d{3})")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Run:
    def __init__(self, status: int, raw: str) -> None:
        self.status = status
        self.raw = raw  # what the terminal received, control sequences and all
        self.text = ANSI.sub("", raw).replace("\r\n", "\n")


def spawn(*args: str, cwd: Path = REPO) -> pexpect.spawn:
    """`kscan ARGS` with a terminal on stdin, stdout and stderr, 160 columns wide (the
    caches stay the test's own: conftest sets XDG_CACHE_HOME in os.environ)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return pexpect.spawn(
        sys.executable,
        ["-m", "kscan", *args],
        cwd=str(cwd),
        env=env,
        encoding="utf-8",
        codec_errors="replace",
        dimensions=(30, 160),
        timeout=60,
    )


def in_terminal(*args: str, cwd: Path = REPO) -> Run:
    child = spawn(*args, cwd=cwd)
    raw = child.read()
    child.close()
    return Run(child.exitstatus, raw)


def assert_clean(run: Run) -> None:
    assert "internal error" not in run.text, run.text
    assert "Traceback" not in run.text, run.text


def expected_lines(directory: Path) -> set[str]:
    """ "mm/FILE:LINE:" of every line the demo marks with `expect:`."""
    found = set()
    for path in sorted(directory.glob("*.c")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if EXPECT.search(line):
                found.add(f"mm/{path.name}:{number}:")
    return found


def test_the_readmes_first_command():
    run = in_terminal("tests/fixtures/demo/mm")
    assert_clean(run)
    assert "parsing" in run.raw  # the bar was drawn
    assert run.status == 1
    want = expected_lines(DEMO / "mm")
    assert len(want) >= 10
    # what breaks or is unknown is listed, what is safe counted (--all lists it)
    listed = {m.group(1) for m in re.finditer(r"(mm/\w+\.c:\d+:)\d+: KS\d{3}", run.text)}
    safe = re.search(r"(\d+) findings? safe by contract or by design", run.text)
    assert safe is not None and listed <= want
    assert len(listed) + int(safe.group(1)) == len(want)
    assert f"{len(want)} findings in 3 files" in run.text


def test_hotspots():
    run = in_terminal("hotspots", "tests/fixtures/demo/mm")
    assert_clean(run)
    assert "parsing" in run.raw
    assert run.status == 0
    # the demo's walks without a check rank among the hotspots
    assert re.search(r"\bmark_range\b.*mm/hole_walks\.c:\d+", run.text), run.text
    assert "A: reached from the allocator's entry points" in run.text


def test_graph():
    run = in_terminal("graph", "tests/fixtures/demo/mm")
    assert_clean(run)
    assert "parsing" in run.raw
    assert run.status == 0
    assert "digraph" in run.text
    assert '"mark_range" [label="mark_range\\nscore' in run.text


@pytest.fixture
def walk_patch(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """The demo tree in git, and a patch that adds an unguarded PFN walk to it."""
    for var in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{var}_NAME", "Test Author")
        monkeypatch.setenv(f"GIT_{var}_EMAIL", "test@example.org")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    tree = tmp_path / "linux"
    shutil.copytree(DEMO, tree)
    git(tree, "init", "-q", "-b", "master")
    git(tree, "add", ".")
    git(tree, "commit", "-qm", "demo tree")
    with (tree / "mm/page_walks.c").open("a") as f:
        f.write(NEW_WALK)
    git(tree, "commit", "-qam", "mm: add clear_node_reserved()")
    patch = Path(git(tree, "format-patch", "-1", "-o", str(tmp_path)).strip())
    git(tree, "reset", "-q", "--hard", "HEAD~1")
    return tree, patch


def test_series(walk_patch):
    tree, patch = walk_patch
    run = in_terminal("series", str(patch), "--tree", str(tree))
    assert_clean(run)
    assert run.status == 1
    assert "+ mm/page_walks.c:" in run.text
    assert "clear_node_reserved" in run.text


@pytest.fixture(scope="module")
def many_walks(tmp_path_factory) -> Path:
    """A thousand files of twenty PFN walks each: parsing them takes seconds."""
    root = tmp_path_factory.mktemp("many-walks")
    (root / "mm").mkdir()
    for i in range(1000):
        text = "".join(WALK.replace("mark(", f"mark{i:04}_{j:02}(") for j in range(20))
        (root / "mm" / f"walks{i:04}.c").write_text(text)
    return root


def test_ctrl_c_says_interrupted_and_keeps_what_was_parsed(many_walks):
    child = spawn("mm", "-j", "2", cwd=many_walks)
    child.expect(r"\b([1-9]\d*)/1000\b")  # the bar shows files done
    done = int(child.match.group(1))
    child.sendintr()
    run = Run(None, child.before + child.after + child.read())
    child.close()
    run.status = child.exitstatus
    assert_clean(run)
    assert run.status == 130
    assert run.text.rstrip().endswith("kscan: interrupted")
    info = in_terminal("cache", "info")
    kept = int(re.search(r"facts entries: (\d+)", info.text).group(1))
    assert done <= kept < 1000
