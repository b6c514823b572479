"""Shared by the vm tests: a fake bzImage, the captured boots, a fake QEMU."""

from __future__ import annotations

import struct
from pathlib import Path

from kscan.vm.qemu import Boot
from kscan.vm.session import Plan, VmRequest, plan

FIXTURES = Path(__file__).parent.parent / "fixtures" / "vm"
LAYOUTS = Path(__file__).parent.parent / "fixtures" / "layouts"
DEBIAN_6_1 = "6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)"  # noqa: E501
ALL_PROBES = ("kpageflags", "compaction", "page_owner", "offline", "hugetlb")

# The three captured boots (Debian's 6.1 cloud kernel under TCG, see README.md there):
# name -> (layout file, --append, probes)
CAPTURES = {
    "builtin-6.1": (None, "", ALL_PROBES),
    "e820-sample-6.1": (LAYOUTS / "qemu-x86_64-memmap.dmesg", "", ()),
    "mem1g-6.1": (None, "mem=1G", ()),
}


def fake_bzimage(path: Path, version: str = DEBIAN_6_1) -> Path:
    """The boot protocol header of a bzImage and nothing else: HdrS at 0x202, the
    version string's offset (from 0x200) at 0x20e."""
    image = bytearray(0x1000)
    image[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", image, 0x20E, 0x400 - 0x200)
    image[0x400 : 0x400 + len(version) + 1] = version.encode() + b"\0"
    path.write_bytes(bytes(image))
    return path


def captured(name: str, tmp_path: Path) -> tuple[Plan, Boot]:
    layout, append, probes = CAPTURES[name]
    kernel = fake_bzimage(tmp_path / "bzImage")
    chosen = plan(VmRequest(kernel, layout, append, probes))
    console = (FIXTURES / f"{name}.console").read_text()
    return chosen, Boot(console, "tcg", 7.0, "powered off")
