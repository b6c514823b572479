"""Run the guest in QEMU and read its serial console; the VM never outlives the call.

QEMU runs in a session of its own, so a Ctrl-C on the terminal reaches kscan alone,
and kscan stops the whole process group on every way out: power-off, timeout, an
interrupt or an error of its own.

KVM: /dev/kvm can exist and answer and still hang the first vCPU instruction past
the BIOS (seen in containers).  So a KVM boot must print the kernel's banner within
KVM_PROBE_SECONDS; if it does not, it is stopped and the same boot starts again under
TCG, one vCPU, which boots a distribution kernel to its shell in about 5 s.  A boot
that never prints the banner (QEMU refused the machine, the image does not boot, no
serial console) is a setup error, not a disagreement.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kscan.vm.errors import VmSetupError

QEMU = "qemu-system-x86_64"
ACCELS = ("auto", "kvm", "tcg")
KVM_PROBE_SECONDS = 5.0
# Under TCG the banner comes after about a second; a kernel silent for this long does
# not print on ttyS0 at all.
TCG_BANNER_SECONDS = 60.0
KERNEL_BANNER = b"Linux version "
_STOP_GRACE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class VmConfig:
    kernel: Path
    initrd: Path
    cmdline: str
    memory: str  # QEMU's -m value, e.g. "2G"
    timeout: float  # seconds for the whole boot, probes included
    qemu: str = QEMU


@dataclass(slots=True)
class Boot:
    console: str  # everything the serial console printed
    accel: str  # "kvm" or "tcg"
    seconds: float  # wall time of the boot that ran to its end
    ending: str  # "powered off", "timed out after 300 s", "QEMU exited with status 1"
    qemu_errors: str = ""  # QEMU's own stderr
    notes: list[str] = field(default_factory=list)  # e.g. why KVM was not used

    @property
    def saw_banner(self) -> bool:
        return KERNEL_BANNER.decode() in self.console


def find_qemu(name: str = QEMU) -> str:
    path = shutil.which(name)
    if path is None:
        raise VmSetupError(f"{name} not found (Debian: apt-get install qemu-system-x86)")
    return path


def qemu_command(config: VmConfig, accel: str) -> list[str]:
    return [
        config.qemu,
        "-name", "kscan-vm",
        "-machine", "q35",
        "-accel", accel,
        # max: TCG emulates pdpe1gb, so 1 GiB hugetlb pages exist; under KVM it is the host.
        "-cpu", "max",
        "-smp", "1",
        "-m", config.memory,
        "-nodefaults",
        "-display", "none",
        "-chardev", "stdio,id=console,signal=off",
        "-serial", "chardev:console",
        "-no-reboot",
        "-kernel", str(config.kernel),
        "-initrd", str(config.initrd),
        "-append", config.cmdline,
    ]  # fmt: skip


def boot(
    config: VmConfig, accel: str = "auto", on_output: Callable[[bytes], None] | None = None
) -> Boot:
    """Boot under `accel` ("auto": KVM if it works, else TCG) and return the console."""
    if accel not in ACCELS:
        raise VmSetupError(f"unknown accelerator {accel!r} (choose from {', '.join(ACCELS)})")
    notes = []
    if accel in ("auto", "kvm"):
        if not os.access("/dev/kvm", os.R_OK | os.W_OK) and accel == "auto":
            notes.append("KVM: /dev/kvm is not usable here; TCG used")
        else:
            first = _run(config, "kvm", on_output, probe=KVM_PROBE_SECONDS)
            if first.saw_banner:
                return first
            if accel == "kvm":
                raise VmSetupError(_no_banner("KVM", first))
            notes.append(f"{_no_banner('KVM', first)}; TCG used")
    result = _run(config, "tcg", on_output, probe=TCG_BANNER_SECONDS)
    if not result.saw_banner:
        raise VmSetupError(
            _no_banner("TCG", result)
            + " (is the serial console, CONFIG_SERIAL_8250_CONSOLE, built in?)"
        )
    result.notes[:0] = notes
    return result


def _no_banner(accel: str, run: Boot) -> str:
    """Why a boot never got to the kernel's banner, with QEMU's own first complaint."""
    why = f"{accel}: {run.ending}"
    return why + (f" ({run.qemu_errors.splitlines()[0]})" if run.qemu_errors else "")


def _run(
    config: VmConfig,
    accel: str,
    on_output: Callable[[bytes], None] | None,
    probe: float | None = None,
) -> Boot:
    """One QEMU run; with `probe`, stopped if the kernel's banner is not out by then."""
    command = qemu_command(config, accel)
    started = time.monotonic()
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                start_new_session=True,
            )
        except OSError as err:
            raise VmSetupError(f"cannot run {config.qemu}: {err.strerror or err}") from None
        try:
            console, ending = _read_console(process, started, config.timeout, on_output, probe)
        finally:
            stop(process)
        errors.seek(0)
        qemu_errors = errors.read().decode(errors="replace").strip()
    return Boot(
        console.decode(errors="replace"),
        accel,
        time.monotonic() - started,
        ending,
        qemu_errors,
    )


def _read_console(
    process: subprocess.Popen[bytes],
    started: float,
    timeout: float,
    on_output: Callable[[bytes], None] | None,
    probe: float | None,
) -> tuple[bytes, str]:
    """Read until QEMU exits or time runs out, or the `probe` deadline passes without
    the kernel's banner; return the console and how it ended."""
    pipe = process.stdout
    assert pipe is not None, "_run() starts QEMU with stdout=PIPE"
    chunks: list[bytes] = []
    banner_deadline = probe  # None once the banner is out
    with selectors.DefaultSelector() as selector:
        selector.register(pipe, selectors.EVENT_READ)
        while True:
            elapsed = time.monotonic() - started
            limit = timeout if banner_deadline is None else min(timeout, banner_deadline)
            if elapsed >= limit:
                if banner_deadline is not None:
                    return b"".join(chunks), f"no kernel banner within {banner_deadline:g} s"
                return b"".join(chunks), f"timed out after {timeout:g} s"
            if not selector.select(limit - elapsed):
                continue
            chunk = os.read(pipe.fileno(), 65536)
            if not chunk:
                break
            chunks.append(chunk)
            if on_output is not None:
                on_output(chunk)
            if banner_deadline is not None and KERNEL_BANNER in b"".join(chunks[-2:]):
                banner_deadline = None
    status = process.wait()
    return b"".join(chunks), "powered off" if status == 0 else f"QEMU exited with status {status}"


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop QEMU and anything it started: SIGTERM to its process group, SIGKILL after
    a grace period, and reap it."""
    if process.poll() is None:
        for sig, grace in ((signal.SIGTERM, _STOP_GRACE_SECONDS), (signal.SIGKILL, None)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(grace)
                break
            except subprocess.TimeoutExpired:
                continue
    if process.stdout is not None:
        process.stdout.close()
    process.wait()
