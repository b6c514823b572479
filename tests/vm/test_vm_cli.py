"""`kscan vm` on the command line: errors are one line with exit 2; a run (with a fake
QEMU that replays a captured boot) renders text and JSON and exits 0 or 1."""

from __future__ import annotations

import json

import pytest
from test_boot_tools import elf
from vm_helpers import FIXTURES, fake_bzimage

from kscan.cli import main


def run_main(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    return exited.value.code, out, err


@pytest.fixture
def replay(tmp_path, monkeypatch):
    """PATH holds a qemu-system-x86_64 that prints a captured console; returns the
    arguments for a kernel and busybox that pass the checks."""

    def use(console: str):
        fake = tmp_path / "bin" / "qemu-system-x86_64"
        fake.parent.mkdir(exist_ok=True)
        fake.write_text(f"#!/bin/sh\ncat {FIXTURES / console}\n")
        fake.chmod(0o755)
        monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
        kernel = fake_bzimage(tmp_path / "vmlinuz")
        busybox = elf(tmp_path / "busybox", interp=False)
        return ["vm", "--kernel", str(kernel), "--busybox", str(busybox), "--accel", "tcg"]

    return use


def test_replayed_boot_agrees(replay, capsys):
    argv = replay("builtin-6.1.console") + ["--probe", "all", "-f", "json"]
    code, out, err = run_main(argv, capsys)
    report = json.loads(out)
    assert (code, err) == (0, "")
    assert report["agrees"] and report["exit_code"] == 0 and len(report["checks"]) == 15
    assert [p["name"] for p in report["probes"]] == [
        "kpageflags", "compaction", "page_owner", "offline", "hugetlb"
    ]  # fmt: skip
    assert "page_owner=on" in report["boot"]["cmdline"] and "nokaslr" in report["boot"]["cmdline"]


def test_replayed_mem_1g_boot_disagrees(replay, capsys, tmp_path):
    saved = tmp_path / "console.txt"
    argv = replay("mem1g-6.1.console") + ["--append", "mem=1G", "--save-console", str(saved)]
    code, out, _ = run_main(argv, capsys)
    assert saved.read_text() == (FIXTURES / "mem1g-6.1.console").read_text()
    assert code == 1
    assert "only the model has RAM at 0x48000000-0x7fbfffff (892 MiB)" in out
    assert out.rstrip().endswith("DISAGREE: 7 of 15 checks differ or were not shown")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--kernel", "/nonexistent/bzImage"], "kernel image /nonexistent/bzImage does not exist"),
        (["--kernel", "x", "-f", "xml"], "unknown format 'xml' (choose from text, json)"),
        (["--kernel", "x", "--accel", "hvf"], "unknown accelerator 'hvf'"),
    ],
)
def test_usage_errors(args, message, capsys):
    code, out, err = run_main(["vm", *args], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"kscan: error: {message}") and err.count("\n") == 1


def test_unknown_probe_and_missing_qemu(tmp_path, monkeypatch, capsys):
    kernel = str(fake_bzimage(tmp_path / "vmlinuz"))
    code, _, err = run_main(["vm", "--kernel", kernel, "--probe", "kasan"], capsys)
    assert code == 2 and "unknown probe 'kasan' (choose from kpageflags, compaction" in err
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run_main(["vm", "--kernel", kernel], capsys)
    assert code == 2
    assert err == (
        "kscan: error: qemu-system-x86_64 not found (Debian: apt-get install qemu-system-x86)\n"
    )


def test_layout_that_memmap_cannot_make(tmp_path, capsys):
    kernel = str(fake_bzimage(tmp_path / "vmlinuz"))
    layout = FIXTURES.parent / "layouts" / "arm64-server.toml"
    code, _, err = run_main(["vm", "--kernel", kernel, "--layout", str(layout)], capsys)
    assert code == 2 and "nomap ranges cannot be made with memmap=" in err
