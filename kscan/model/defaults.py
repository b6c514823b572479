"""Layouts to judge findings against when the user gives none.

Each is small but shaped like real machines, so that verdicts come with concrete PFNs:
firmware holes inside MAX_ORDER blocks, a node or zone span across absent sections,
and an offline memory block where the platform has them.  They are the tables a
layout file holds (see kscan/model/layout.py), written as Python: no TOML parser at
start-up.
"""

from __future__ import annotations

from kscan.model.layout import Layout, layout_from_table

_X86_64 = {
    "name": "x86_64 desktop e820, 16 GiB",
    # BIOS-e820: usable 0-0x9efff, reserved 0x9f000-0xfffff (EBDA, VGA, BIOS ROM),
    # usable 0x100000-0x6cbfefff, firmware and ACPI up to 0x6f7fffff, the PCI hole up
    # to 4 GiB, usable 0x100000000-0x47fffffff.
    "ram": ["0x0-0x9efff", "0x100000-0x6cbfefff", "0x100000000-0x47fffffff"],
    # The first 1 MiB is always reserved (since 5.13); the kernel image sits at 16 MiB.
    "reserved": ["0x0-0x9efff", "0x1000000-0x2ffffff"],
}

_ARM64 = {
    "name": "arm64 server: firmware NOMAP carve-out, two nodes, one offline block",
    "ram": ["0x80000000-0xfbffffff", "0x880000000-0x97fffffff"],
    # EFI runtime services / firmware carve-out, mapped by nobody (memblock NOMAP).
    "nomap": ["0x80200000-0x8023ffff"],
    "reserved": ["0x80800000-0x827fffff"],
    # A hot-added 512 MiB block left offline (whole sections for every page size).
    "offline": ["0x960000000-0x97fffffff"],
    "nodes": ["0x80000000-0xfbffffff", "0x880000000-0x97fffffff"],
}

_PPC64 = {
    "name": "ppc64 LPAR, 8 GiB in two nodes, one LMB offline",
    "ram": ["0x0-0x1ffffffff"],
    "reserved": ["0x0-0x3ffffff"],
    "offline": ["0x180000000-0x18fffffff"],
    "nodes": ["0x0-0xffffffff", "0x100000000-0x1ffffffff"],
}

_S390 = {
    "name": "s390 LPAR, 4 GiB online and 2 GiB standby memory",
    "ram": ["0x0-0x17fffffff"],
    "reserved": ["0x0-0xffffff"],
    "offline": ["0x100000000-0x17fffffff"],
}

_RISCV = {
    "name": "riscv64 with OpenSBI at the base of RAM",
    "ram": ["0x80000000-0x17fffffff"],
    # OpenSBI's PMP-protected region is no-map reserved memory.
    "nomap": ["0x80000000-0x8003ffff"],
    "reserved": ["0x80200000-0x81ffffff"],
}

_BY_ARCH = {"x86": _X86_64, "arm64": _ARM64, "powerpc": _PPC64, "s390": _S390, "riscv": _RISCV}


def default_layout(arch: str) -> Layout:
    if arch not in _BY_ARCH:
        raise ValueError(f"no built-in layout for {arch!r} (known: {', '.join(_BY_ARCH)})")
    return layout_from_table(_BY_ARCH[arch], f"built-in {arch} layout")
