"""The kernel image to boot: an x86 bzImage (arch/x86/boot/bzImage, Debian's vmlinuz).

The boot protocol header names the kernel's version without booting it
(Documentation/arch/x86/boot.rst: "HdrS" at 0x202, and from protocol 2.00 a pointer to
the version string at 0x20e, relative to 0x200).  The model is built for that version:
its era of hole handling and its MAX_ORDER meaning.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from kscan.vm.errors import VmSetupError

_HDRS_OFFSET, _VERSION_PTR_OFFSET, _SETUP_START = 0x202, 0x20E, 0x200
_RELEASE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, slots=True)
class KernelImage:
    path: Path
    version_string: str  # "6.1.0-57-cloud-amd64 (debian-kernel@...) #1 SMP ... Debian 6.1.192-3"

    @property
    def release(self) -> str:
        """What `uname -r` says: "6.1.0-57-cloud-amd64"."""
        return self.version_string.split()[0]

    @property
    def version(self) -> str:
        """MAJOR.MINOR.SUBLEVEL of the release, e.g. "6.1.0" (Debian keeps .0 there)."""
        m = _RELEASE.match(self.release)
        assert m is not None  # read_kernel_image() checked it
        return ".".join(part or "0" for part in m.groups())


def read_kernel_image(path: Path) -> KernelImage:
    try:
        with path.open("rb") as f:
            head = f.read(0x8000)
    except FileNotFoundError:
        raise VmSetupError(f"kernel image {path} does not exist") from None
    except OSError as err:
        raise VmSetupError(f"cannot read kernel image {path}: {err.strerror or err}") from None
    if head[_HDRS_OFFSET : _HDRS_OFFSET + 4] != b"HdrS":
        raise VmSetupError(f"{path} is not an x86 bzImage (no HdrS boot header)")
    pointer = struct.unpack_from("<H", head, _VERSION_PTR_OFFSET)[0] + _SETUP_START
    version = head[pointer:].split(b"\0", 1)[0].decode("ascii", "replace")
    if not _RELEASE.match(version):
        raise VmSetupError(f"{path}: cannot read the kernel version from its boot header")
    return KernelImage(path, version)
