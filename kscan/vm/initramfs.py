"""A tiny initramfs, written as a newc cpio archive without root or a cpio binary.

The kernel unpacks an uncompressed newc archive as happily as a compressed one
(init/initramfs.c), and a 2 MiB busybox boots no slower for it.  newc is a 110-byte
ASCII header of hex fields, the name, and the data, each padded to 4 bytes; the
archive ends with the entry TRAILER!!!.  Owners are root and times zero, so the same
inputs make the same bytes.  Device nodes are plain header fields here: no mknod.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

TRAILER = "TRAILER!!!"
NEWC_MAGIC = b"070701"


@dataclass(frozen=True, slots=True)
class CpioEntry:
    name: str  # without a leading slash: "init", "bin/busybox"
    mode: int  # file type and permission bits, e.g. stat.S_IFREG | 0o755
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)  # major, minor of a device node


def directory(name: str) -> CpioEntry:
    return CpioEntry(name, stat.S_IFDIR | 0o755)


def regular(name: str, data: bytes, mode: int = 0o644) -> CpioEntry:
    return CpioEntry(name, stat.S_IFREG | mode, data)


def char_device(name: str, major: int, minor: int) -> CpioEntry:
    return CpioEntry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _header(entry: CpioEntry, ino: int) -> bytes:
    name = entry.name.encode() + b"\0"
    fields = (
        ino,
        entry.mode,
        0,  # uid
        0,  # gid
        2 if stat.S_ISDIR(entry.mode) else 1,  # nlink
        0,  # mtime
        len(entry.data),
        0,  # devmajor
        0,  # devminor
        entry.rdev[0],
        entry.rdev[1],
        len(name),
        0,  # check (unused by newc)
    )
    return _pad4(NEWC_MAGIC + b"".join(b"%08x" % f for f in fields) + name)


def newc_archive(entries: list[CpioEntry]) -> bytes:
    """The entries as one newc archive, parents before children as listed."""
    parts = []
    for ino, entry in enumerate(entries, 1):
        parts += [_header(entry, ino), _pad4(entry.data)]
    parts.append(_header(CpioEntry(TRAILER, 0), 0))
    return b"".join(parts)


def build_initramfs(busybox: Path, init_script: str) -> bytes:
    """busybox as /bin/busybox and `init_script` as /init; /dev/console exists before
    devtmpfs is mounted, so init's first lines reach the serial console."""
    entries = [
        *(directory(d) for d in ("bin", "dev", "proc", "sys", "tmp")),
        char_device("dev/console", 5, 1),
        regular("bin/busybox", busybox.read_bytes(), 0o755),
        regular("init", init_script.encode(), 0o755),
    ]
    return newc_archive(entries)
