"""The initramfs builder: a newc archive the kernel (and cpio) can read back."""

from __future__ import annotations

import shutil
import stat
import subprocess

import pytest

from kscan.vm.guest import DONE, init_script
from kscan.vm.initramfs import CpioEntry, build_initramfs, newc_archive, regular


def read_newc(archive: bytes) -> list[dict]:
    """An independent reader: every header field, the name and the data of each entry."""
    fields = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor",
              "devminor", "rdevmajor", "rdevminor", "namesize", "check")  # fmt: skip
    entries, offset = [], 0
    while True:
        assert archive[offset : offset + 6] == b"070701", f"bad magic at {offset}"
        values = [int(archive[offset + 6 + 8 * i : offset + 14 + 8 * i], 16) for i in range(13)]
        entry = dict(zip(fields, values, strict=True))
        name_start = offset + 110
        name = archive[name_start : name_start + entry["namesize"]]
        assert name.endswith(b"\0")
        entry["name"] = name[:-1].decode()
        data_start = name_start + entry["namesize"] + (-(110 + entry["namesize"]) % 4)
        assert data_start % 4 == 0
        entry["data"] = archive[data_start : data_start + entry["filesize"]]
        offset = data_start + entry["filesize"] + (-entry["filesize"] % 4)
        if entry["name"] == "TRAILER!!!":
            assert offset == len(archive)
            return entries
        entries.append(entry)


@pytest.fixture
def archive(tmp_path):
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF fake busybox, 37 bytes long....")
    return build_initramfs(busybox, init_script([("kpageflags", "cat /proc/kpageflags")]))


def test_initramfs_holds_busybox_init_and_a_console(archive):
    entries = {e["name"]: e for e in read_newc(archive)}
    assert list(entries) == ["bin", "dev", "proc", "sys", "tmp", "dev/console", "bin/busybox",
                             "init"]  # fmt: skip
    assert entries["bin/busybox"]["data"] == b"\x7fELF fake busybox, 37 bytes long...."
    assert stat.S_IMODE(entries["init"]["mode"]) == 0o755
    assert stat.S_ISREG(entries["init"]["mode"])
    init = entries["init"]["data"].decode()
    assert init.startswith("#!/bin/busybox sh\n") and DONE in init and "probe_kpageflags" in init
    console = entries["dev/console"]
    assert stat.S_ISCHR(console["mode"]) and (console["rdevmajor"], console["rdevminor"]) == (5, 1)
    assert all(stat.S_ISDIR(entries[d]["mode"]) for d in ("bin", "dev", "proc", "sys", "tmp"))
    assert {(e["uid"], e["gid"], e["mtime"]) for e in entries.values()} == {(0, 0, 0)}
    assert len({e["ino"] for e in entries.values()}) == len(entries)


def test_archive_is_reproducible_and_padded():
    entries = [regular(f"f{n}", b"x" * n) for n in range(6)]  # every padding length
    archive = newc_archive(entries)
    assert archive == newc_archive(entries)
    assert len(archive) % 4 == 0
    assert [e["data"] for e in read_newc(archive)] == [b"x" * n for n in range(6)]


@pytest.mark.skipif(shutil.which("cpio") is None, reason="no cpio binary")
def test_gnu_cpio_lists_the_archive(archive):
    listing = subprocess.run(
        ["cpio", "-it", "--quiet"], input=archive, capture_output=True, check=True
    ).stdout.decode()
    assert listing.split() == ["bin", "dev", "proc", "sys", "tmp", "dev/console", "bin/busybox",
                               "init"]  # fmt: skip


def test_device_entry_without_data():
    (entry,) = read_newc(newc_archive([CpioEntry("dev/null", stat.S_IFCHR | 0o666, rdev=(1, 3))]))
    assert entry["filesize"] == 0 and (entry["rdevmajor"], entry["rdevminor"]) == (1, 3)
