"""What the booted kernel says about its memory, read from the files /init collected.

Each parser takes the text of one file as the kernel prints it (6.1 formats; the
fields read have kept their names since 4.x) and raises KernelViewError, naming the
file and line, on anything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from kscan.model.layout import Layout, LayoutError, parse_e820, parse_iomem
from kscan.vm.console import Capture


class KernelViewError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    node: int
    zone: str
    start_pfn: int | None  # None for an empty zone (zoneinfo prints none)
    spanned: int
    present: int
    managed: int


@dataclass(frozen=True, slots=True)
class MemoryBlock:
    index: int  # memoryN
    first_section: int  # phys_index
    state: str  # "online", "offline", "going-offline"
    valid_zones: str  # "DMA32", "none", "Normal Movable" ...


@dataclass(frozen=True, slots=True)
class PageTypes:
    pageblock_order: int
    blocks: dict[tuple[int, str], dict[str, int]]  # (node, zone) -> migratetype -> pageblocks

    def pageblocks(self, node: int, zone: str) -> int:
        return sum(self.blocks.get((node, zone), {}).values())


def _number(text: str, what: str, source: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise KernelViewError(f"{source}: {what} {text!r} is not a number") from None


# --- /proc/zoneinfo --------------------------------------------------------------------

_ZONE_HEAD = re.compile(r"^Node (\d+), zone\s+(\S+)\s*$")
_ZONE_FIELDS = {"spanned", "present", "managed", "start_pfn:"}


def parse_zoneinfo(text: str, source: str = "/proc/zoneinfo") -> list[ZoneInfo]:
    zones: list[tuple[int, str, dict[str, int]]] = []  # node, zone, the fields under its head
    current: dict[str, int] | None = None  # the fields of the zone being read
    for lineno, line in enumerate(text.splitlines(), 1):
        head = _ZONE_HEAD.match(line)
        if head:
            current = {}
            zones.append((int(head[1]), head[2], current))
            continue
        words = line.split()
        if current is not None and len(words) == 2 and words[0] in _ZONE_FIELDS:
            key = words[0].rstrip(":")
            current[key] = _number(words[1], key, f"{source}:{lineno}")
    if not zones:
        raise KernelViewError(f"{source}: no 'Node N, zone NAME' lines")
    out = []
    for node, zone, fields in zones:
        missing = {"spanned", "present", "managed"} - fields.keys()
        if missing:
            raise KernelViewError(
                f"{source}: node {node} zone {zone} has no {', '.join(sorted(missing))}"
            )
        out.append(
            ZoneInfo(
                node,
                zone,
                fields.get("start_pfn"),
                fields["spanned"],
                fields["present"],
                fields["managed"],
            )
        )
    return out


# --- /proc/buddyinfo -------------------------------------------------------------------

_BUDDY = re.compile(r"^Node (\d+), zone\s+(\S+)((?:\s+\d+)+)\s*$")


def parse_buddyinfo(text: str, source: str = "/proc/buddyinfo") -> dict[tuple[int, str], list[int]]:
    """(node, zone) -> free blocks per order, from order 0 to the largest."""
    out = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _BUDDY.match(line)
        if not m:
            raise KernelViewError(f"{source}:{lineno}: malformed line {line.strip()!r}")
        out[int(m[1]), m[2]] = [int(n) for n in m[3].split()]
    if not out:
        raise KernelViewError(f"{source}: no zones")
    return out


# --- /proc/pagetypeinfo ----------------------------------------------------------------

_BLOCKS_HEAD = "Number of blocks type"
_BLOCKS_ROW = re.compile(r"^Node (\d+), zone\s+(\S+)((?:\s+\d+)+)\s*$")


def parse_pagetypeinfo(text: str, source: str = "/proc/pagetypeinfo") -> PageTypes:
    order, types, blocks = None, None, {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("Page block order:"):
            order = _number(line.split(":")[1].strip(), "page block order", f"{source}:{lineno}")
        elif line.startswith(_BLOCKS_HEAD):
            types = line[len(_BLOCKS_HEAD) :].split()
        elif types is not None and (m := _BLOCKS_ROW.match(line)):
            counts = [int(n) for n in m[3].split()]
            if len(counts) != len(types):
                raise KernelViewError(
                    f"{source}:{lineno}: {len(counts)} counts for {len(types)} types"
                )
            blocks[int(m[1]), m[2]] = dict(zip(types, counts, strict=True))
    if order is None or types is None:
        raise KernelViewError(f"{source}: no 'Page block order' or '{_BLOCKS_HEAD}' lines")
    return PageTypes(order, blocks)


# --- /sys/devices/system/memory (as guest.py's memory_blocks prints it) ----------------


def parse_memory_blocks(
    text: str, source: str = "/sys/devices/system/memory"
) -> tuple[int, list[MemoryBlock]]:
    """(block size in bytes, the blocks by index)."""
    size, blocks = None, []
    for lineno, line in enumerate(text.splitlines(), 1):
        words = line.split()
        where = f"{source}:{lineno}"
        if len(words) == 2 and words[0] == "block_size_bytes":
            size = _number("0x" + words[1], "block_size_bytes", where)
        elif len(words) >= 4 and words[0].startswith("memory"):
            index = _number(words[0].removeprefix("memory"), "memory block", where)
            first = _number("0x" + words[1], "phys_index", where)
            blocks.append(MemoryBlock(index, first, words[2], " ".join(words[3:])))
        elif words:
            raise KernelViewError(f"{where}: malformed line {line.strip()!r}")
    if size is None:
        raise KernelViewError(f"{source}: no block_size_bytes")
    return size, sorted(blocks, key=lambda b: b.index)


# --- the kernel log --------------------------------------------------------------------

_UNAVAILABLE = re.compile(r"On node (\d+), zone (\S+): (\d+) pages in unavailable ranges")


def unavailable_ranges(log: str) -> list[tuple[int, str, int]]:
    """(node, zone, pages) of each "pages in unavailable ranges" line (5.12+): the hole
    pages of present sections that got an initialised, reserved struct page."""
    return [(int(m[1]), m[2], int(m[3])) for m in _UNAVAILABLE.finditer(log)]


def e820_map(log: str) -> Layout | None:
    """The e820 map the kernel used (the user: map after memmap= or mem=), or None when
    the log does not have it (its start scrolled out of the ring buffer)."""
    if "BIOS-e820:" not in log and "user: [mem" not in log:
        return None
    try:
        return parse_e820(log, "boot log")
    except LayoutError as err:
        raise KernelViewError(str(err)) from None


_KERNEL_CODE = re.compile(r"^\s+([0-9a-f]+)-[0-9a-f]+ : Kernel code\s*$", re.M | re.I)


def kernel_code_start(iomem: str) -> int | None:
    m = _KERNEL_CODE.search(iomem)
    return int(m[1], 16) if m else None


def system_ram(iomem: str) -> Layout:
    try:
        return parse_iomem(iomem, "/proc/iomem")
    except LayoutError as err:
        raise KernelViewError(str(err)) from None


# --- everything at once ----------------------------------------------------------------


@dataclass
class KernelView:
    log: str
    e820: Layout | None = None
    iomem: Layout | None = None
    zones: list[ZoneInfo] | None = None
    buddy: dict[tuple[int, str], list[int]] | None = None
    pagetypes: PageTypes | None = None
    memory: tuple[int, list[MemoryBlock]] | None = None
    unavailable: list[tuple[int, str, int]] = field(default_factory=list)
    kernel_code: int | None = None  # where the kernel image starts
    problems: dict[str, str] = field(default_factory=dict)  # part -> why it is missing

    def why(self, part: str) -> str:
        return self.problems.get(part, f"{part} was not collected")


_PARSERS: dict[str, Callable[[str], object]] = {
    "iomem": system_ram,
    "zoneinfo": parse_zoneinfo,
    "buddyinfo": parse_buddyinfo,
    "pagetypeinfo": parse_pagetypeinfo,
    "memory": parse_memory_blocks,
}
_FIELDS = {
    "iomem": "iomem",
    "zoneinfo": "zones",
    "buddyinfo": "buddy",
    "pagetypeinfo": "pagetypes",
    "memory": "memory",
}


def read_view(capture: Capture) -> KernelView:
    """Parse what /init collected; a part that is missing or unreadable is left None
    with the reason in `problems`."""
    view = KernelView(capture.log, unavailable=unavailable_ranges(capture.log))
    view.kernel_code = kernel_code_start(capture.text("iomem") or "")
    try:
        view.e820 = e820_map(capture.log)
    except KernelViewError as err:
        view.problems["e820"] = str(err)
    if view.e820 is None:
        view.problems.setdefault("e820", "the boot log has no e820 map")
    for part, parse in _PARSERS.items():
        text = capture.text(part)
        if text is None:
            view.problems[part] = f"the guest did not print {part}"
            continue
        try:
            setattr(view, _FIELDS[part], parse(text))
        except KernelViewError as err:
            view.problems[part] = str(err)
    return view
