"""`kscan vm` booting a real kernel under QEMU (TCG, one vCPU): about 10 s a boot.

Slow, and skipped unless KSCAN_KERNEL_IMAGE names a bootable x86 kernel (Debian's
cloud image: `scripts/fetch-kernel.sh --image 6.1`) and qemu-system-x86_64 is installed:

    KSCAN_KERNEL_IMAGE=$(scripts/fetch-kernel.sh --image 6.1) pytest -m slow tests/vm
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
LAYOUTS = Path(__file__).parent.parent / "fixtures" / "layouts"


@pytest.fixture
def kernel(tmp_path) -> Path:
    value = os.environ.get("KSCAN_KERNEL_IMAGE")
    if not value:
        pytest.skip("KSCAN_KERNEL_IMAGE is not set")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    # A link of our own: the QEMU of this test is the one whose command line names it.
    link = tmp_path / "vmlinuz"
    link.symlink_to(Path(value).expanduser().resolve())
    return link


def kscan_vm(kernel: Path, *args: str) -> tuple[int, dict]:
    run = subprocess.run(
        [sys.executable, "-m", "kscan", "vm", "--kernel", str(kernel), "-f", "json", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.stderr == "", run.stderr
    return run.returncode, json.loads(run.stdout)


def qemu_of(kernel: Path) -> bytes:
    return subprocess.run(["pgrep", "-f", str(kernel)], capture_output=True).stdout


def test_builtin_layout_agrees_with_every_probe(kernel):
    code, report = kscan_vm(kernel, "--probe", "all")
    disagreeing = [c for c in report["checks"] if c["agrees"] is not True]
    assert (code, disagreeing) == (0, [])
    probes = {p["name"]: p for p in report["probes"]}
    assert set(probes) == {"kpageflags", "compaction", "page_owner", "offline", "hugetlb"}
    assert all(p["agrees"] is not False and not p["splats"] for p in probes.values())
    assert probes["kpageflags"]["agrees"] and probes["offline"]["agrees"]
    assert report["boot"]["finished"] and report["splats"] == []
    assert qemu_of(kernel) == b""


def test_layout_from_an_e820_dmesg_sample_agrees(kernel):
    code, report = kscan_vm(kernel, "--layout", str(LAYOUTS / "qemu-x86_64-memmap.dmesg"))
    assert [c for c in report["checks"] if c["agrees"] is not True] == []
    assert code == 0 and report["boot"]["memory"] == "576M"


def test_mem_1g_is_a_mismatch(kernel):
    code, report = kscan_vm(kernel, "--append", "mem=1G")
    assert code == 1 and not report["agrees"]
    ram = next(c for c in report["checks"] if c["subject"] == "System RAM (/proc/iomem)")
    assert ram["note"] == "only the model has RAM at 0x48000000-0x7fbfffff (892 MiB)"


def test_ctrl_c_leaves_no_qemu(kernel):
    runner = subprocess.Popen(
        [sys.executable, "-m", "kscan", "vm", "--kernel", str(kernel), "--accel", "tcg"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while qemu_of(kernel) == b"" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert qemu_of(kernel) != b"", "QEMU never started"
    time.sleep(1.0)  # the kernel is booting
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=30)
    assert (runner.returncode, err) == (130, "kscan: interrupted; the VM was stopped\n")
    time.sleep(0.5)
    assert qemu_of(kernel) == b""
