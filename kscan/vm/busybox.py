"""A statically linked x86-64 busybox for the guest: given, from the system, or
unpacked from Debian's busybox-static package into kscan's cache (no root needed).

An initramfs holds no shared libraries, so a dynamically linked busybox (Debian's
`busybox` package) cannot run as /init; the ELF header tells the two apart.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from kscan.vm.errors import VmSetupError

_PT_INTERP = 3
_EM_X86_64 = 62
PACKAGE = "busybox-static"


def is_static_x86_64(path: Path) -> bool:
    """An x86-64 ELF executable with no program interpreter (static or static-pie)."""
    try:
        with path.open("rb") as f:
            header = f.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4:6] != b"\x02\x01":
                return False
            machine = struct.unpack_from("<H", header, 18)[0]
            (phoff,) = struct.unpack_from("<Q", header, 32)
            phentsize, phnum = struct.unpack_from("<HH", header, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    types = (struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum))
    return machine == _EM_X86_64 and _PT_INTERP not in types


def find_busybox(cache: Path, given: Path | None = None) -> Path:
    """`given`, else the system's busybox if static, else busybox-static from Debian,
    unpacked once under `cache`."""
    if given is not None:
        if not is_static_x86_64(given):
            raise VmSetupError(f"{given} is not a statically linked x86-64 busybox")
        return given
    system = shutil.which("busybox")
    if system and is_static_x86_64(Path(system)):
        return Path(system)
    unpacked = cache / PACKAGE / "bin" / "busybox"
    if not is_static_x86_64(unpacked):
        _unpack_debian_package(cache)
    return unpacked


def _unpack_debian_package(cache: Path) -> None:
    """apt-get download + dpkg -x into a scratch directory, then move into place, so a
    failed or interrupted download leaves nothing half-written in the cache."""
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        raise VmSetupError("no static busybox: install busybox-static or pass --busybox PATH")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        fetch = subprocess.run(
            ["apt-get", "download", PACKAGE], cwd=scratch, capture_output=True, text=True
        )
        debs = list(Path(scratch).glob(f"{PACKAGE}_*.deb"))
        if fetch.returncode or not debs:
            raise VmSetupError(f"cannot download {PACKAGE}: {fetch.stderr.strip()[-200:]}")
        unpacked = Path(scratch) / PACKAGE
        unpack = subprocess.run(
            ["dpkg", "-x", str(debs[0]), str(unpacked)], capture_output=True, text=True
        )
        if unpack.returncode:
            raise VmSetupError(f"cannot unpack {debs[0].name}: {unpack.stderr.strip()[-200:]}")
        if not is_static_x86_64(unpacked / "bin" / "busybox"):
            raise VmSetupError(f"{debs[0].name} holds no static bin/busybox")
        shutil.rmtree(cache / PACKAGE, ignore_errors=True)
        unpacked.rename(cache / PACKAGE)
