"""QEMU runs, ends and is torn down, with a fake qemu-system-x86_64 (a shell script)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from kscan.vm import qemu
from kscan.vm.errors import VmSetupError
from kscan.vm.qemu import VmConfig, boot


def fake_qemu(tmp_path, body: str):
    """A QEMU that writes its pid, then runs `body` with "$accel" set from -accel."""
    script = tmp_path / "qemu-system-x86_64"
    script.write_text(
        "#!/bin/sh\n"
        f"echo $$ >> {tmp_path}/pids\n"
        'while [ $# -gt 0 ]; do [ "$1" = -accel ] && accel=$2; shift; done\n'
        f"{body}\n"
    )
    script.chmod(0o755)
    return str(script)


def config(tmp_path, body, timeout=5.0):
    return VmConfig(tmp_path / "bzImage", tmp_path / "initrd", "console=ttyS0", "2G", timeout,
                    fake_qemu(tmp_path, body))  # fmt: skip


def pids(tmp_path) -> list[int]:
    return [int(p) for p in (tmp_path / "pids").read_text().split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_guest_that_powers_off(tmp_path):
    result = boot(config(tmp_path, 'echo "Linux version 6.1"; echo done'), accel="tcg")
    assert result.ending == "powered off" and result.accel == "tcg"
    assert result.console == "Linux version 6.1\ndone\n"


def test_a_hung_guest_is_stopped_at_the_timeout(tmp_path):
    body = 'echo "Linux version 6.1"; sleep 60 & sleep 60; wait'
    result = boot(config(tmp_path, body, timeout=1.0), accel="tcg")
    assert result.ending == "timed out after 1 s"
    assert not any(alive(pid) for pid in pids(tmp_path))
    assert subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True).stdout == b""


def test_kvm_that_hangs_falls_back_to_tcg(tmp_path, monkeypatch):
    monkeypatch.setattr(qemu, "KVM_PROBE_SECONDS", 0.5)
    monkeypatch.setattr(qemu.os, "access", lambda path, mode: True)
    body = '[ "$accel" = kvm ] && { echo SeaBIOS; sleep 60; }; echo "Linux version 6.1"'
    result = boot(config(tmp_path, body), accel="auto")
    assert result.accel == "tcg" and result.ending == "powered off"
    assert result.notes == ["KVM: no kernel banner within 0.5 s; TCG used"]
    assert not any(alive(pid) for pid in pids(tmp_path))
    with pytest.raises(VmSetupError, match="KVM: no kernel banner"):
        boot(config(tmp_path, body), accel="kvm")


def test_kvm_that_fails_falls_back_with_qemus_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(qemu.os, "access", lambda path, mode: True)
    body = '[ "$accel" = kvm ] && { echo "error: failed to set MSR" >&2; exit 1; }\n'
    body += 'echo "Linux version 6.1"'
    result = boot(config(tmp_path, body), accel="auto")
    assert result.notes == ["KVM: QEMU exited with status 1 (error: failed to set MSR); TCG used"]


def test_missing_qemu(tmp_path):
    with pytest.raises(VmSetupError, match="not found"):
        qemu.find_qemu(str(tmp_path / "no-such-qemu"))


def test_ctrl_c_stops_the_vm(tmp_path):
    """SIGINT to a process booting a VM: it ends, and so does every QEMU process."""
    cfg = config(tmp_path, 'echo "Linux version 6.1"; sleep 60 & sleep 60; wait', timeout=60)
    code = (
        "import sys; from pathlib import Path; from kscan.vm.qemu import VmConfig, boot\n"
        f"boot(VmConfig(Path('x'), Path('y'), '', '1G', 60, {cfg.qemu!r}), accel='tcg')\n"
    )
    runner = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not (tmp_path / "pids").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=20)
    assert b"KeyboardInterrupt" in err
    time.sleep(0.2)
    assert not any(alive(pid) for pid in pids(tmp_path))
    assert subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True).stdout == b""


def test_progress_follows_the_console_across_chunks():
    from kscan.vm.session import _ConsoleProgress

    seen: list[str] = []
    progress = _ConsoleProgress(seen.append)
    progress(b"[    1.2] Run /init as init process\r\n@@kscan-vm:beg")
    progress(b"in:zoneinfo@@\r\nNode 0, zone DMA\r\n@@kscan-vm:begin:probe:offline@@\r\n")
    assert seen == ["kernel up, collecting", "collecting zoneinfo", "probe offline"]


def test_a_kernel_that_never_prints_is_a_setup_error(tmp_path, monkeypatch):
    monkeypatch.setattr(qemu, "TCG_BANNER_SECONDS", 0.5)
    with pytest.raises(VmSetupError, match=r"TCG: no kernel banner within 0.5 s \(is the serial"):
        boot(config(tmp_path, "sleep 60"), accel="tcg")
    body = 'echo "qemu-system-x86_64: linux kernel too old to load a ram disk" >&2; exit 1'
    with pytest.raises(
        VmSetupError,
        match=r"TCG: QEMU exited with status 1 \(qemu-system-x86_64: linux kernel too old",
    ):
        boot(config(tmp_path, body), accel="tcg")
    assert not any(alive(pid) for pid in pids(tmp_path))
