"""Input and output that fail under kscan: a full disk, a full device, a closed pipe,
a folder it may not read.  Each ends in one line and a non-zero exit (a closed pipe in
silence), never a traceback, and never with half a file where a whole one was."""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from snippets import WALK

from kscan.cli import main
from kscan.review.suppress import read_baseline

TESTS = Path(__file__).resolve().parent
DEMO_MM = TESTS / "fixtures" / "demo" / "mm"
ENOSPC = os.strerror(errno.ENOSPC)


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("kscan: error: "), err
    for fragment in fragments:
        assert fragment in err, err


class _FullFile:
    """A file on a full disk: half of the first write lands, then ENOSPC."""

    def __init__(self, real) -> None:
        self._real = real

    def write(self, text):
        self._real.write(text[: len(text) // 2])
        self._real.flush()
        raise OSError(errno.ENOSPC, ENOSPC)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture
def full_disk(tmp_path, monkeypatch) -> Path:
    """tmp_path/out on a full disk, holding kept.txt from before it filled up: what is
    opened for writing there (by name, or as a descriptor, as a temporary file is) fails
    part way."""
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "kept.txt").write_text("the previous content\n")
    real_open = io.open

    def open_on_full_disk(file, mode="r", *args, **kwargs):
        opened = real_open(file, mode, *args, **kwargs)
        if "w" in mode and (isinstance(file, int) or str(file).startswith(str(folder))):
            return _FullFile(opened)
        return opened

    monkeypatch.setattr(io, "open", open_on_full_disk)
    monkeypatch.setattr(builtins, "open", open_on_full_disk)
    return folder


# Every file kscan writes for the user, and the one-line error each gives on a full disk.
WRITERS = {
    "scan -o": ([str(DEMO_MM), "-j", "1", "-q", "-o"], "cannot write"),
    "scan --write-baseline": (
        [str(DEMO_MM), "-j", "1", "-q", "--write-baseline"],
        "cannot write baseline",
    ),
    "graph -o": (["graph", str(DEMO_MM), "-j", "1", "-o"], "cannot write"),
    "model --svg": (["model", "--svg"], "cannot write"),
}


@pytest.mark.parametrize("writer", WRITERS)
def test_a_full_disk_keeps_the_previous_file(full_disk, capsys, writer):
    argv, message = WRITERS[writer]
    target = full_disk / "kept.txt"
    code, _, err = run_main(capsys, *argv, str(target))
    assert code == 2
    assert_one_line_error(err, message, str(target), ENOSPC)
    assert target.read_text() == "the previous content\n"
    assert sorted(p.name for p in full_disk.iterdir()) == ["kept.txt"]  # no temporary left


def test_a_written_file_keeps_its_mode_and_its_symlink(tmp_path, capsys):
    real = tmp_path / "reports" / "report.json"
    real.parent.mkdir()
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    code, _, _ = run_main(capsys, str(DEMO_MM), "-j", "1", "-q", "-f", "json", "-o", str(link))
    assert code == 1
    assert link.is_symlink() and '"findings"' in real.read_text()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(p.name for p in real.parent.iterdir()) == ["report.json"]
    new = tmp_path / "new.json"
    umask = os.umask(0o022)
    try:
        run_main(capsys, str(DEMO_MM), "-j", "1", "-q", "--write-baseline", str(new))
    finally:
        os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o644  # as open() makes it, not mkstemp's 0600
    assert len(read_baseline(new).fingerprints) > 0


def test_output_to_a_fifo_is_written_through(tmp_path, capsys):
    """A FIFO (or /dev/stdout, a terminal) is not replaced by a regular file: it gets
    the report."""
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    code, _, err = run_main(capsys, str(DEMO_MM), "-j", "1", "-q", "-o", str(fifo))
    reader.join(timeout=30)
    assert code == 1, err
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert "findings in 3 files" in received[0]


# --- standard output: a full device, a closed descriptor, a reader that went away ---


def kscan_process(*args: str, stdout, unbuffered: str, cwd: Path = TESTS.parent):
    return subprocess.Popen(
        [sys.executable, "-m", "kscan", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": unbuffered},
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


# PYTHONUNBUFFERED: print() meets the error inside the command; unset: at the last flush
BUFFERING = pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])


@BUFFERING
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["tests/fixtures/demo/mm"], ["rules"]], ids=["scan", "rules"])
def test_stdout_on_a_full_device(unbuffered, argv):
    with open("/dev/full", "w") as full:
        proc = kscan_process(*argv, stdout=full, unbuffered=unbuffered)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert_one_line_error(err, f"cannot write the output: {ENOSPC}")


@BUFFERING
def test_stdout_closed(unbuffered):
    proc = subprocess.Popen(
        [sys.executable, "-m", "kscan", "tests/fixtures/demo/mm", "-j", "1"],
        cwd=TESTS.parent,
        env={**os.environ, "PYTHONUNBUFFERED": unbuffered},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.close(1),
    )
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert_one_line_error(err, "cannot write the output: standard output is closed")


@BUFFERING
def test_a_reader_that_goes_away_is_no_error(tmp_path, unbuffered):
    """`kscan mm | head -1`: the report is cut short in silence, with the scan's status
    (each walk's range is unknown: --fail-on unknown counts them)."""
    walks = "".join(WALK.replace("mark(", f"mark{i}(") for i in range(400))  # > a pipe buffer
    (tmp_path / "walks.c").write_text(walks)
    proc = kscan_process(
        "walks.c",
        "-q",
        "-j",
        "1",
        "--fail-on",
        "unknown",
        stdout=subprocess.PIPE,
        unbuffered=unbuffered,
        cwd=tmp_path,
    )
    assert proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1
    assert err == ""


# --- folders kscan may not read ---------------------------------------------------
# The suite may run as root, whom chmod 000 does not stop: the refusal is made in-process.


@pytest.fixture
def deny(monkeypatch):
    """deny(folder): what chmod 000 does to a folder for anyone but root.  It can be
    stat'ed, but not listed, and nothing below it can be reached.  deny(folder,
    listing=True): chmod 100, it cannot be listed but what is inside can be reached."""

    def refuse(folder: Path, listing: bool = False) -> None:
        folder = os.path.abspath(folder)

        def denied(path, itself: bool) -> bool:
            if isinstance(path, int):
                return False
            path = os.path.abspath(os.fspath(path))
            return (itself and path == folder) or (not listing and path.startswith(folder + os.sep))

        def guarded(real, itself: bool = False):
            def call(path=".", *args, **kwargs):
                if denied(path, itself):
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
                return real(path, *args, **kwargs)

            return call

        for name in ("stat", "lstat"):
            monkeypatch.setattr(os, name, guarded(getattr(os, name)))
        for name in ("scandir", "listdir"):
            monkeypatch.setattr(os, name, guarded(getattr(os, name), itself=True))
        monkeypatch.setattr(io, "open", guarded(io.open))
        monkeypatch.setattr(builtins, "open", guarded(io.open))

    return refuse


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "linux"
    shutil.copytree(TESTS / "fixtures" / "demo", root)
    return root


DENIED = os.strerror(errno.EACCES)


@pytest.mark.parametrize(
    ("locked", "argv", "named"),
    [
        ("outside", ["{tmp}/outside"], "{tmp}/outside"),
        ("linux", ["{tmp}/linux"], "{tmp}/linux"),
        ("linux/mm", ["{tmp}/linux/mm"], "{tmp}/linux/mm"),
        ("linux/include", ["{tmp}/linux/mm"], "{tmp}/linux/include/linux"),
        ("linux", ["hotspots", "{tmp}/linux"], "{tmp}/linux"),
        ("linux", ["graph", "{tmp}/linux"], "{tmp}/linux"),
        ("linux", ["model", "{tmp}/linux"], "{tmp}/linux"),
        ("linux", ["series", "{tmp}/p.patch", "--tree", "{tmp}/linux"], "{tmp}/linux"),
    ],
    ids=["path", "tree", "tree-mm", "tree-include", "hotspots", "graph", "model", "series"],
)
def test_a_folder_that_may_not_be_read(tree, deny, capsys, locked, argv, named):
    tmp = tree.parent
    (tmp / "outside").mkdir()
    (tmp / "outside" / "walk.c").write_text(WALK)
    (tmp / "p.patch").write_text("")
    deny(tmp / locked)
    code, out, err = run_main(capsys, *(a.format(tmp=tmp) for a in argv))
    assert code == 2
    assert out == ""
    assert_one_line_error(err, f"cannot read {named.format(tmp=tmp)}: {DENIED}")


def test_the_current_folder_that_may_not_be_read(tree, deny, capsys, monkeypatch):
    monkeypatch.chdir(tree)
    deny(tree)
    code, _, err = run_main(capsys, "-j", "1")
    assert code == 2
    assert_one_line_error(err, f"cannot read {tree}: {DENIED}")


def test_a_folder_that_may_be_entered_but_not_listed(tree, deny, capsys):
    """chmod 100 on mm/: the tree is found (mm/ is a folder), but there is nothing to scan
    (it was "No findings", exit 0, behind a warning)."""
    deny(tree / "mm", listing=True)
    code, out, err = run_main(capsys, str(tree / "mm"), "-j", "1")
    assert code == 2
    assert out == ""
    assert_one_line_error(err, f"cannot read {tree / 'mm'}: {DENIED}")


def test_an_unreadable_folder_inside_is_a_warning(tree, deny, capsys):
    (tree / "mm" / "private").mkdir()
    deny(tree / "mm" / "private")
    code, out, err = run_main(capsys, str(tree / "mm"), "-j", "1")
    assert code == 1  # the rest is scanned
    assert "kscan: warning: mm/private: cannot read (Permission denied)" in err
    assert "Traceback" not in err and "internal error" not in err


def test_an_unreadable_arch_folder_leaves_the_built_in_presets(tree, deny, capsys):
    (tree / "arch").mkdir()
    deny(tree / "arch")
    code, out, err = run_main(capsys, str(tree / "mm"), "-j", "1", "-q")
    assert code == 1, err
    assert "model: breaks (" in out
