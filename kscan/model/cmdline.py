"""An x86_64 VM whose memory map has holes inside MAX_ORDER blocks, from memmap=.

`memmap=exactmap` makes the kernel drop the firmware's e820 map and use only the RAM
ranges that follow (`memmap=SIZE@START`); whatever is not listed is a hole.  The
recipe keeps the classic low map (636 KiB, then RAM from 1 MiB), ends RAM on a
MAX_ORDER boundary below the firmware's tables at the top of guest RAM, and cuts:

  - small holes in the middle of a pageblock of a MAX_ORDER block, so the block and
    the pageblock both have a valid head and a hole inside (the pre-5.15 crash shape;
    on 5.15+ these pages are initialised and reserved);
  - optionally one whole section, so a zone span holds an absent section (what breaks
    zone-span walkers without pfn_to_online_page() on any kernel).

Booting (SeaBIOS, QEMU's default firmware; keep -m at or below 2 GiB so that all guest
RAM is below 4 GiB on both the pc and q35 machine types):

  qemu-system-x86_64 -machine q35 -accel kvm -m 2G -nographic \\
      -kernel arch/x86/boot/bzImage -initrd initrd.img \\
      -append "console=ttyS0 <the memmap= arguments>"

The arguments contain no `$`, so they go into GRUB_CMDLINE_LINUX unescaped.  Check the
result with `dmesg | grep -A30 'user-defined physical RAM map'`: parse_e820() reads
those `user:` lines back into the same layout.  OVMF/UEFI boots are not covered: the
EFI memory map carries runtime regions that exactmap would drop.
"""

from __future__ import annotations

from dataclasses import dataclass

from kscan.model.geometry import Geometry
from kscan.model.layout import Layout, MemRange

_MiB = 1 << 20
_LOW_RAM_END = 0x9F000  # 636 KiB: the EBDA and the BIOS area above it stay holes
_HIGH_RAM_START = _MiB


@dataclass(frozen=True, slots=True)
class BootRecipe:
    memmap_args: tuple[str, ...]
    qemu_memory: str  # the value for QEMU's -m
    layout: Layout  # what the arguments make; parse_memmap_cmdline() gives it back

    @property
    def cmdline(self) -> str:
        return " ".join(self.memmap_args)

    def qemu_command(self, kernel: str = "arch/x86/boot/bzImage") -> str:
        return (
            f"qemu-system-x86_64 -machine q35 -accel kvm -m {self.qemu_memory} -nographic "
            f'-kernel {kernel} -append "console=ttyS0 {self.cmdline}"'
        )


def _kernel_size(nbytes: int) -> str:
    """A size as memparse() reads it, in the largest exact unit."""
    for suffix, shift in (("G", 30), ("M", 20), ("K", 10)):
        if nbytes % (1 << shift) == 0:
            return f"{nbytes >> shift}{suffix}"
    return str(nbytes)


def emit_cmdline(
    geometry: Geometry,
    *,
    memory_mib: int = 2048,
    holes: int = 3,
    hole_pages: int = 64,
    absent_section: bool = True,
) -> BootRecipe:
    """memmap= arguments and the QEMU -m size for `holes` holes of `hole_pages` pages,
    each in its own section, plus one absent section if asked."""
    if geometry.arch != "x86":
        raise ValueError(f"memmap= is x86 only; {geometry.name} cannot use it")
    block = geometry.max_order_pages << geometry.page_shift
    pageblock = geometry.pageblock_pages << geometry.page_shift
    section = geometry.section_pages << geometry.page_shift
    hole_bytes = hole_pages << geometry.page_shift
    if not 0 < hole_bytes < pageblock // 2:
        raise ValueError(f"a hole of {hole_pages} pages does not fit inside half a pageblock")
    # Stay below the firmware's tables at the top of guest RAM.
    top = (memory_mib * _MiB - 1) // block * block
    # Sections 0 and 1 keep the kernel image, the initrd and early allocations whole.
    cuts = [
        (base + block + pageblock // 2, base + block + pageblock // 2 + hole_bytes)
        for base in (section * (2 + 2 * i) for i in range(holes))
    ]
    if absent_section:
        base = section * (2 + 2 * holes)
        cuts.append((base, base + section))
    if cuts and cuts[-1][1] + block > top:
        raise ValueError(f"{memory_mib} MiB is too small for {holes} holes")
    ram, start = [MemRange(0, _LOW_RAM_END)], _HIGH_RAM_START
    for hole_start, hole_end in cuts:
        ram.append(MemRange(start, hole_start))
        start = hole_end
    ram.append(MemRange(start, top))
    name = f"x86_64 VM, {memory_mib} MiB, {holes} holes in MAX_ORDER blocks"
    if absent_section:
        name += ", one absent section"
    layout = Layout(tuple(ram), name=name, source="memmap= recipe")
    return BootRecipe(memmap_arguments(layout), _qemu_size(memory_mib), layout)


def memmap_arguments(layout: Layout) -> tuple[str, ...]:
    """`memmap=exactmap` and one `memmap=SIZE@START` per RAM range of `layout`."""
    ranges = (f"memmap={_kernel_size(r.end - r.start)}@{r.start:#x}" for r in layout.ram)
    return ("memmap=exactmap", *ranges)


def _qemu_size(memory_mib: int) -> str:
    return f"{memory_mib // 1024}G" if memory_mib % 1024 == 0 else f"{memory_mib}M"


# QEMU's q35 machine keeps all of -m below 4 GiB when it is under 2.75 GiB; otherwise
# 2 GiB go below 4 GiB and the rest starts at 4 GiB.  SeaBIOS puts its tables at the top
# of the RAM below 4 GiB, so a layout leaves that last MiB out.
_Q35_ALL_LOW = 0xB0000000
_Q35_LOW_WHEN_SPLIT = 2 << 30
_FOUR_GIB = 4 << 30
_FIRMWARE_TABLES = _MiB


def recipe_for_layout(layout: Layout) -> BootRecipe:
    """memmap= arguments and a QEMU -m size (q35, SeaBIOS) that back every RAM range
    of `layout`.  Only RAM and holes can be booted: memmap= has no NOMAP or offline
    memory, and one QEMU node is one node."""
    for kind in ("nomap", "offline"):
        if getattr(layout, kind):
            raise ValueError(f"{layout.source}: {kind} ranges cannot be made with memmap=")
    if len(layout.nodes) > 1:
        raise ValueError(f"{layout.source}: a layout of several nodes cannot be made with memmap=")
    low = [r for r in layout.ram if r.end <= _FOUR_GIB]
    high = [r for r in layout.ram if r.start >= _FOUR_GIB]
    if len(low) + len(high) != len(layout.ram):
        raise ValueError(f"{layout.source}: a RAM range crosses 4 GiB, where q35 has its PCI hole")
    low_top = max((r.end for r in low), default=0) + _FIRMWARE_TABLES
    if high:
        if low_top > _Q35_LOW_WHEN_SPLIT:
            raise ValueError(
                f"{layout.source}: with RAM above 4 GiB, q35 has 2 GiB below it; "
                "RAM there must end a MiB before"
            )
        memory = _Q35_LOW_WHEN_SPLIT + max(r.end for r in high) - _FOUR_GIB
    else:
        memory = -(-low_top // (64 * _MiB)) * 64 * _MiB
        if memory >= _Q35_ALL_LOW:
            raise ValueError(
                f"{layout.source}: q35 keeps at most 2.75 GiB below 4 GiB; this layout needs "
                f"{memory >> 20} MiB there"
            )
    memory_mib = -(-memory // _MiB)
    return BootRecipe(memmap_arguments(layout), _qemu_size(memory_mib), layout)


def boot_recipe_lines(geometry: Geometry) -> list[str]:
    """`kscan model --emit-cmdline`: how to boot a VM with holes, and check them."""
    recipe = emit_cmdline(geometry)
    return [
        f"kernel command line: {recipe.cmdline}",
        f"QEMU memory: -m {recipe.qemu_memory}",
        f"boot: {recipe.qemu_command()}",
        "check: dmesg | grep -E 'user-defined physical RAM map|user:' shows the holes",
    ]
