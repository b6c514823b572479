"""The kernel image's version from its boot header; a static busybox from its ELF header."""

from __future__ import annotations

import struct

import pytest
from vm_helpers import DEBIAN_6_1, fake_bzimage

from kscan.vm.busybox import find_busybox, is_static_x86_64
from kscan.vm.errors import VmSetupError
from kscan.vm.kernel import read_kernel_image


def test_version_from_the_boot_header(tmp_path):
    image = read_kernel_image(fake_bzimage(tmp_path / "vmlinuz"))
    assert image.version_string == DEBIAN_6_1
    assert (image.release, image.version) == ("6.1.0-57-cloud-amd64", "6.1.0")
    built = read_kernel_image(fake_bzimage(tmp_path / "bzImage", "6.12.0-rc3+ (me@host) #4"))
    assert built.version == "6.12.0"


def test_bad_kernel_images(tmp_path):
    with pytest.raises(VmSetupError, match="does not exist"):
        read_kernel_image(tmp_path / "missing")
    (tmp_path / "vmlinux").write_bytes(b"\x7fELF" + bytes(0x300))
    with pytest.raises(VmSetupError, match="not an x86 bzImage"):
        read_kernel_image(tmp_path / "vmlinux")
    with pytest.raises(VmSetupError, match="cannot read the kernel version"):
        read_kernel_image(fake_bzimage(tmp_path / "odd", "not a version"))


def elf(path, *, interp: bool, machine: int = 62):
    """A 64-bit little-endian ELF header with two program headers."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<H", header, 18, machine)
    struct.pack_into("<Q", header, 32, 64)  # e_phoff
    struct.pack_into("<HH", header, 54, 56, 2)  # e_phentsize, e_phnum
    table = bytearray(112)
    struct.pack_into("<I", table, 0, 6)  # PT_PHDR
    struct.pack_into("<I", table, 56, 3 if interp else 1)  # PT_INTERP or PT_LOAD
    path.write_bytes(bytes(header + table))
    return path


def test_static_elf_detection(tmp_path):
    assert is_static_x86_64(elf(tmp_path / "static", interp=False))
    assert not is_static_x86_64(elf(tmp_path / "dynamic", interp=True))
    assert not is_static_x86_64(elf(tmp_path / "arm64", interp=False, machine=183))
    (tmp_path / "script").write_text("#!/bin/sh\n")
    assert not is_static_x86_64(tmp_path / "script")
    assert not is_static_x86_64(tmp_path / "missing")


def test_given_busybox_must_be_static(tmp_path):
    static = elf(tmp_path / "busybox", interp=False)
    assert find_busybox(tmp_path / "cache", static) == static
    with pytest.raises(VmSetupError, match="not a statically linked"):
        find_busybox(tmp_path / "cache", elf(tmp_path / "dyn", interp=True))
