"""Physical memory layout: RAM ranges (and so holes), NOMAP, reserved, offline blocks, nodes.

Read from what people have at hand: dmesg e820 lines, /proc/iomem, the memmap= command
line, or a small TOML/JSON file.  Addresses are bytes, ranges half-open; everything
that goes wrong names the source and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from kscan.model.ranges import PfnRange, covers, merged
from kscan.reading import read_text


class LayoutError(ValueError):
    def __init__(self, source: str, line: int | None, message: str) -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}")
        self.source, self.line, self.message = source, line, message


@dataclass(frozen=True, slots=True)
class MemRange:
    start: int
    end: int  # exclusive
    line: int | None = field(default=None, compare=False)

    def __str__(self) -> str:
        # The kernel's own notation: inclusive end, as in /proc/iomem and e820 lines.
        return f"{self.start:#x}-{self.end - 1:#x}"

    @property
    def span(self) -> PfnRange:
        # Byte addresses in PfnRange clothing: the interval arithmetic is the same.
        return PfnRange(self.start, self.end)


@dataclass(frozen=True)
class Layout:
    ram: tuple[MemRange, ...]  # memblock.memory: System RAM, NOMAP included
    nomap: tuple[MemRange, ...] = ()  # RAM without a linear mapping (arm64 firmware)
    reserved: tuple[MemRange, ...] = ()  # RAM the kernel never frees (memblock.reserved)
    offline: tuple[MemRange, ...] = ()  # hot-added memory blocks not onlined
    nodes: tuple[MemRange, ...] = ()  # node id = index; none means one node
    name: str = field(default="", compare=False)
    source: str = field(default="layout", compare=False)

    def __post_init__(self) -> None:
        if not self.ram:
            raise LayoutError(self.source, None, "no System RAM ranges")
        _check_disjoint(self.ram, "RAM range", self.source)
        ram = merged(r.span for r in self.ram)
        carved = [
            (kind, r) for kind in ("nomap", "reserved", "offline") for r in getattr(self, kind)
        ]
        for kind, r in carved:
            if not covers(ram, r.span):
                raise LayoutError(self.source, r.line, f"{kind} range {r} is not inside System RAM")
        _check_disjoint([r for _, r in carved], "nomap/reserved/offline range", self.source)
        _check_disjoint(self.nodes, "node range", self.source)
        nodes = merged(r.span for r in self.nodes)
        for r in self.ram if self.nodes else ():
            if not covers(nodes, r.span):
                raise LayoutError(self.source, r.line, f"RAM range {r} is outside every node")

    def node_ranges(self) -> tuple[MemRange, ...]:
        if self.nodes:
            return self.nodes
        return (MemRange(min(r.start for r in self.ram), max(r.end for r in self.ram)),)

    def holes(self) -> tuple[MemRange, ...]:
        """The gaps between RAM ranges."""
        ram = merged(r.span for r in self.ram)
        return tuple(MemRange(a.end, b.start) for a, b in zip(ram, ram[1:], strict=False))


def _check_disjoint(ranges: Iterable[MemRange], what: str, source: str) -> None:
    by_start = sorted(ranges, key=lambda r: r.span)
    for r in by_start:
        if r.start >= r.end:
            raise LayoutError(source, r.line, f"{what} {r} is empty or reversed")
    for prev, r in zip(by_start, by_start[1:], strict=False):
        if r.start < prev.end:
            raise LayoutError(source, r.line, f"{what} {r} overlaps {prev}")


# --- dmesg e820 ------------------------------------------------------------------------

_E820 = re.compile(
    r"(?:BIOS-e820|user):\s*\[mem\s+(0x[0-9a-f]+)-(0x[0-9a-f]+)\]\s+(\S.*?)\s*$", re.I
)


def parse_e820(text: str, source: str = "dmesg") -> Layout:
    """The BIOS-e820 map from dmesg; the `user:` map replaces it when memmap= was given."""
    tables: dict[str, list[tuple[MemRange, str]]] = {"BIOS-e820": [], "user": []}
    for lineno, line in enumerate(text.splitlines(), 1):
        table = "user" if "user: [mem" in line else "BIOS-e820" if "BIOS-e820:" in line else None
        if table is None:
            continue
        m = _E820.search(line)
        if not m:
            raise LayoutError(source, lineno, f"malformed e820 line: {line.strip()!r}")
        start, last = int(m[1], 16), int(m[2], 16)
        if last < start:
            raise LayoutError(source, lineno, f"e820 range ends before it starts: {m[1]}-{m[2]}")
        tables[table].append((MemRange(start, last + 1, lineno), m[3]))
    entries = tables["user"] or tables["BIOS-e820"]
    if not entries:
        raise LayoutError(source, None, "no BIOS-e820 lines found")
    _check_disjoint([r for r, _ in entries], "e820 range", source)
    return Layout(tuple(r for r, kind in entries if kind == "usable"), name=source, source=source)


# --- /proc/iomem -----------------------------------------------------------------------

_IOMEM = re.compile(r"^( *)([0-9a-f]+)-([0-9a-f]+) : (.+?)\s*$", re.I)


def parse_iomem(text: str, source: str = "/proc/iomem") -> Layout:
    """Top-level "System RAM" is RAM; arm64 names NOMAP memory "reserved" (lower case);
    the direct children of System RAM (kernel image, crash kernel, memblock reservations)
    are reserved RAM.  Everything else is a hole."""
    ram, nomap, reserved = [], [], []
    parent = ""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _IOMEM.match(line)
        if not m:
            raise LayoutError(source, lineno, f"malformed iomem line: {line.strip()!r}")
        indent, name = len(m[1]), m[4]
        first, last = int(m[2], 16), int(m[3], 16)
        if last == 0:
            raise LayoutError(source, lineno, "addresses read as 0: read /proc/iomem as root")
        if last < first:
            raise LayoutError(source, lineno, f"iomem range ends before it starts: {m[2]}-{m[3]}")
        r = MemRange(first, last + 1, lineno)
        if indent == 0:
            parent = name
            if name.startswith("System RAM"):
                ram.append(r)
            elif name == "reserved":
                ram.append(r)
                nomap.append(r)
        elif indent == 2 and parent.startswith("System RAM"):
            reserved.append(r)
    if not ram:
        raise LayoutError(source, None, "no System RAM lines found")
    return Layout(tuple(ram), tuple(nomap), tuple(reserved), name=source, source=source)


# --- memmap= command line --------------------------------------------------------------

_MEMPARSE = re.compile(r"(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)([kmgtpe]?)", re.I)
_SUFFIX_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}

# e820 types memmap= can create; where entries overlap the highest type wins, as in
# the kernel's e820__update_table().
_E820_RAM, _E820_RESERVED, _E820_ACPI, _E820_PRAM = 1, 2, 3, 12
_MEMMAP_TYPES = {"@": _E820_RAM, "$": _E820_RESERVED, "#": _E820_ACPI, "!": _E820_PRAM}
_MEMMAP_ARG = re.compile(r"([^@#$!%]+)(?:([@#$!%])(.+))?")
_FIRMWARE = "the firmware map"  # the token of entries that came from `base`


def memparse(text: str) -> int:
    """The kernel's memparse(): a C integer literal with an optional K/M/G/T/P/E suffix."""
    m = _MEMPARSE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a size: {text!r}")
    digits, suffix = m[1], m[2].lower()
    if digits[:2].lower() == "0x":
        value = int(digits, 16)
    else:
        value = int(digits, 8 if digits.startswith("0") else 10)
    return value << _SUFFIX_SHIFT[suffix]


@dataclass(frozen=True, slots=True)
class _MemmapEntry:
    start: int
    end: int
    e820_type: int
    token: str
    line: int


def parse_memmap_cmdline(text: str, source: str = "cmdline", base: Layout | None = None) -> Layout:
    """A kernel command line's memmap= arguments, applied in order as the kernel does.

    `memmap=exactmap` drops the firmware map; otherwise the entries edit `base` (the
    firmware map, e.g. from parse_e820), or an empty map when there is none.
    `memmap=nn` without an address caps RAM at nn.  GRUB's `\\$` escape is accepted.
    """
    entries = [
        _MemmapEntry(r.start, r.end, _E820_RAM, _FIRMWARE, r.line or 0)
        for r in (base.ram if base else ())
    ]
    seen = False
    for lineno, line in enumerate(text.splitlines(), 1):
        for arg in line.replace("\\$", "$").split():
            if not arg.startswith("memmap="):
                continue
            seen = True
            for token in arg.removeprefix("memmap=").split(","):
                if token == "exactmap":
                    entries = []
                else:
                    entries = _apply_memmap(entries, token, source, lineno)
    if not seen:
        raise LayoutError(source, None, "no memmap= arguments")
    return Layout(_e820_ram(entries), name=source, source=source)


def _apply_memmap(
    entries: list[_MemmapEntry], token: str, source: str, line: int
) -> list[_MemmapEntry]:
    m = _MEMMAP_ARG.fullmatch(token)
    if not m:
        raise LayoutError(source, line, f"memmap={token}: expected nn[KMG]<@#$!>ss[KMG]")
    op = m[2] or ""
    if op == "%":
        raise LayoutError(source, line, f"memmap={token}: type conversion (%) is not supported")
    try:
        size = memparse(m[1])
        start = memparse(m[3]) if op else 0
    except ValueError as err:
        raise LayoutError(source, line, f"memmap={token}: {err}") from None
    if size == 0:
        raise LayoutError(source, line, f"memmap={token}: zero size")
    if not op:
        # memmap=nn: like mem=, RAM above nn goes away (and only RAM).
        return [
            replace(e, end=min(e.end, size)) if e.e820_type == _E820_RAM else e
            for e in entries
            if e.e820_type != _E820_RAM or e.start < size
        ]
    new = _MemmapEntry(start, start + size, _MEMMAP_TYPES[op], f"memmap={token}", line)
    if new.e820_type == _E820_RAM:
        # Adding RAM over firmware RAM is how people extend a map; two memmap= RAM
        # ranges over each other is a typo.
        for e in entries:
            clash = e.start < new.end and new.start < e.end
            if clash and e.e820_type == _E820_RAM and e.token != _FIRMWARE:
                raise LayoutError(source, line, f"{new.token} overlaps {e.token}")
    return [*entries, new]


def _e820_ram(entries: list[_MemmapEntry]) -> tuple[MemRange, ...]:
    """RAM after resolving overlaps: each piece takes the highest type covering it."""
    edges = sorted({e.start for e in entries} | {e.end for e in entries})
    pieces: list[MemRange] = []
    for start, end in zip(edges, edges[1:], strict=False):
        covering = [e for e in entries if e.start <= start and end <= e.end]
        if covering and max(e.e820_type for e in covering) == _E820_RAM:
            line = min(e.line for e in covering) or None
            if pieces and pieces[-1].end == start:
                previous = pieces.pop()
                start, line = previous.start, previous.line
            pieces.append(MemRange(start, end, line))
    return tuple(pieces)


# --- TOML / JSON -----------------------------------------------------------------------
#
#   name = "arm64 server"
#   ram = ["0x80000000-0xfbffffff", "0x880000000-0x97fffffff"]
#   nomap = ["0x80200000-0x8023ffff"]
#   reserved = []
#   offline = ["0x960000000-0x97fffffff"]
#   nodes = ["0x80000000-0xfbffffff", "0x880000000-0x97fffffff"]   # node 0, node 1
#
# Ranges are "first-last" with an inclusive last address, as /proc/iomem prints them.

_RANGE_KEYS = ("ram", "nomap", "reserved", "offline", "nodes")
_RANGE_TEXT = re.compile(r"\s*(0x[0-9a-f]+|\d+)\s*-\s*(0x[0-9a-f]+|\d+)\s*", re.I)


def loads_layout(text: str, source: str, fmt: str) -> Layout:
    """A layout from TOML (`fmt="toml"`) or JSON (any other `fmt`) text."""
    import json  # only layout files need these: the built-in layouts are tables already
    import tomllib

    try:
        data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except tomllib.TOMLDecodeError as err:
        line = re.search(r"line (\d+)", str(err))
        raise LayoutError(source, int(line[1]) if line else None, str(err)) from None
    except json.JSONDecodeError as err:
        raise LayoutError(source, err.lineno, err.msg) from None
    return layout_from_table(data, source, text)


def layout_from_table(data: object, source: str, text: str = "") -> Layout:
    """A layout from the table a TOML or JSON layout holds; `text`, the file, gives
    errors their line."""
    if not isinstance(data, dict):
        raise LayoutError(source, None, "expected a table of ram, nomap, reserved, offline, nodes")
    for key in data:
        if key != "name" and key not in _RANGE_KEYS:
            known = ", ".join(("name", *_RANGE_KEYS))
            raise LayoutError(source, _line_of(text, key), f"unknown key {key!r} ({known})")
    ranges = {key: _ranges(text, source, key, data.get(key, [])) for key in _RANGE_KEYS}
    return Layout(**ranges, name=str(data.get("name", source)), source=source)


def _ranges(text: str, source: str, key: str, items: object) -> tuple[MemRange, ...]:
    if not isinstance(items, list):
        raise LayoutError(source, _line_of(text, key), f"{key}: expected a list of ranges")
    out = []
    for item in items:
        line = _line_of(text, key, f'"{item}"')
        m = _RANGE_TEXT.fullmatch(item) if isinstance(item, str) else None
        if not m:
            raise LayoutError(source, line, f"{key}: {item!r} is not a range like 0x1000-0x1fff")
        first, last = int(m[1], 0), int(m[2], 0)
        if last < first:
            raise LayoutError(source, line, f"{key}: range {item!r} ends before it starts")
        out.append(MemRange(first, last + 1, line))
    return tuple(out)


def _line_of(text: str, key: str, needle: str | None = None) -> int | None:
    """The line of `key`, or of the first `needle` at or after it (TOML and JSON keep
    no positions, so errors find their line by text)."""
    lines = text.splitlines()
    key_line = next(
        (i for i, line in enumerate(lines) if re.match(rf'\s*"?{re.escape(key)}"?\s*[=:]', line)),
        None,
    )
    if key_line is None or needle is None:
        return None if key_line is None else key_line + 1
    found = (i for i in range(key_line, len(lines)) if needle in lines[i])
    return next(found, key_line) + 1


def load_layout(path: str | Path) -> Layout:
    """A layout file of any supported kind: .toml/.json by suffix, else by its content
    (dmesg with BIOS-e820 lines, /proc/iomem, or a command line with memmap=)."""
    path = Path(path)
    try:
        text = read_text(path)
    except OSError as err:
        raise LayoutError(str(path), None, err.strerror or str(err)) from None
    source = str(path)
    if path.suffix in (".toml", ".json"):
        return loads_layout(text, source, path.suffix[1:])
    if "BIOS-e820:" in text or "user: [mem" in text:
        return parse_e820(text, source)
    if "memmap=" in text:
        return parse_memmap_cmdline(text, source)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if _IOMEM.match(first_line):
        return parse_iomem(text, source)
    raise LayoutError(source, None, "not a layout: expected TOML, JSON, e820, iomem or memmap=")
