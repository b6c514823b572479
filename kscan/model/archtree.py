"""Presets read from a kernel tree, where the tree says them.

arch/*/Kconfig: the ARCH_FORCE_MAX_ORDER entry (FORCE_MAX_ZONEORDER before 6.1) gives
the MAX_ORDER default and range for each page size, and the page size choices say which
presets an architecture offers.  arch/*/include/asm/sparsemem.h gives
SECTION_SIZE_BITS.  Kconfig values are MAX_ORDER under the tree's own meaning
(kscan.discover.treeinfo reads it from mmzone.h).  Everything else comes from the built-in table.

Conditions are evaluated for a 64-bit distribution configuration; what this small
evaluator cannot read (comparisons, parentheses around alternatives) counts as false.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from functools import cache
from pathlib import Path

from kscan.discover.treeinfo import read_tree_info
from kscan.model.geometry import PRESETS, Geometry, MaxOrderMeaning, largest_order

_COMMON = {
    "64BIT",
    "MMU",
    "NUMA",
    "SPARSEMEM",
    "SPARSEMEM_VMEMMAP",
    "MEMORY_HOTPLUG",
    "TRANSPARENT_HUGEPAGE",
    "HUGETLB_PAGE",
}
_SYMBOLS = {
    "x86_64": {"X86", "X86_64"},
    "arm64-4k": {"ARM64", "ARM64_4K_PAGES", "PAGE_SIZE_4KB"},
    "arm64-16k": {"ARM64", "ARM64_16K_PAGES", "PAGE_SIZE_16KB"},
    "arm64-64k": {"ARM64", "ARM64_64K_PAGES", "PAGE_SIZE_64KB"},
    "ppc64": {"PPC", "PPC64", "PPC_BOOK3S_64", "PPC_64K_PAGES", "PAGE_SIZE_64KB"},
    "ppc64-4k": {"PPC", "PPC64", "PPC_BOOK3S_64", "PPC_4K_PAGES", "PAGE_SIZE_4KB"},
    "s390": {"S390"},
    "riscv": {"RISCV"},
}
_MAX_ORDER_SYMBOLS = ("ARCH_FORCE_MAX_ORDER", "FORCE_MAX_ZONEORDER")
# Every architecture's own symbol: a build for one never has another's.
_ARCHITECTURES = {
    "ALPHA", "ARC", "ARM", "ARM64", "CSKY", "HEXAGON", "IA64", "LOONGARCH", "M68K",
    "MICROBLAZE", "MIPS", "NIOS2", "OPENRISC", "PARISC", "PPC", "PPC32", "PPC64", "RISCV",
    "S390", "SPARC", "SPARC32", "SPARC64", "SUPERH", "UML", "X86", "X86_32", "X86_64",
    "XTENSA",
}  # fmt: skip
# Kconfig patterns start from a literal newline (the text is read with one in front):
# `re` finds it fast, where a `^` anchor is tried at every position (5 ms a scan).
_PAGE_CHOICE = re.compile(r"\nconfig (\w+?_(\d+)K_PAGES)\s*$", re.M)
_DEFAULT = re.compile(r'\s*default\s+"?(\d+)"?(?:\s+if\s+(.+?))?\s*$')
_RANGE = re.compile(r"\s*range\s+(\d+)\s+(\d+)(?:\s+if\s+(.+?))?\s*$")
_MMZONE_DEFAULT = re.compile(
    r"#\s*ifndef\s+CONFIG_(?:ARCH_FORCE_MAX_ORDER|FORCE_MAX_ZONEORDER)\s*\n"
    r"\s*#\s*define\s+MAX_(?:PAGE_)?ORDER\s+(\d+)"
)


def presets_from_tree(
    root: str | Path, meaning: MaxOrderMeaning | None = None
) -> dict[str, Geometry]:
    """The built-in presets corrected by what the tree at `root` says; presets whose
    architecture or page size the tree lacks are left out."""
    root = Path(root)
    meaning = meaning or read_tree_info(root).semantics or "inclusive-renamed"
    read_once = cache(_read)  # presets share an architecture's Kconfig
    page_choices = cache(_page_choices)
    mmzone = read_once(root / "include/linux/mmzone.h")
    default = _MMZONE_DEFAULT.search(mmzone)  # MAX_ORDER when no arch forces one
    presets = {}
    for name, base in PRESETS.items():
        arch = root / "arch" / base.arch
        if not os.path.isdir(arch):  # absent or unreadable: the built-in preset stands
            continue
        symbols = _COMMON | _SYMBOLS[name]
        kconfig = "\n" + read_once(arch / "Kconfig")
        choices = page_choices(kconfig)
        page_symbol = next((s for s in symbols if _PAGE_CHOICE.match(f"\nconfig {s}")), None)
        if choices and page_symbol and page_symbol not in choices:
            continue
        read, geometry = [], base
        kconfig_default, kconfig_range = _max_order(kconfig, symbols)
        if kconfig_default is not None:
            read.append(f"arch/{base.arch}/Kconfig")
        elif default:
            kconfig_default = int(default[1])
            read.append("include/linux/mmzone.h")
        if kconfig_default is not None:
            geometry = replace(geometry, max_page_order=largest_order(kconfig_default, meaning))
        if kconfig_range:
            low, high = (largest_order(v, meaning) for v in kconfig_range)
            geometry = replace(geometry, max_order_range=(low, high))
        header = read_once(arch / "include/asm/sparsemem.h")
        bits = _section_size_bits(header, symbols | {"__KERNEL__"})
        if bits is not None:
            geometry = replace(geometry, section_size_bits=bits)
            read.append(f"arch/{base.arch}/include/asm/sparsemem.h")
        if page_symbol in choices:
            geometry = replace(geometry, page_shift=(choices[page_symbol] * 1024).bit_length() - 1)
        if read:
            geometry = replace(geometry, source=f"{', '.join(read)} ({meaning} MAX_ORDER)")
        presets[name] = geometry
    return presets


def _page_choices(kconfig: str) -> dict[str, int]:
    """The page-size choices of an architecture: config symbol -> KiB."""
    return {m[1]: int(m[2]) for m in _PAGE_CHOICE.finditer(kconfig)}


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _holds(condition: str | None, symbols: set[str]) -> bool:
    """A Kconfig or preprocessor condition of symbols, !, && and ||."""
    if not condition:
        return True
    condition = re.sub(r"\bdefined\b|\bCONFIG_", "", condition)
    if "||" in condition and "(" in condition:
        return False
    condition = condition.replace("(", " ").replace(")", " ")
    if re.search(r"[=<>]", condition):
        return False
    return any(
        all(
            (term[1:].strip() not in symbols) if term.startswith("!") else term in symbols
            for term in (t.strip() for t in alternative.split("&&"))
        )
        for alternative in condition.split("||")
    )


def _entry(kconfig: str, names: tuple[str, ...]) -> list[str]:
    """The indented lines of the first `config NAME` entry among `names` (found by a
    search, not by splitting a 2,000-line Kconfig into lines per preset)."""
    head = re.search(rf"\nconfig[ \t]+(?:{'|'.join(names)})[ \t]*$", kconfig, re.M)
    if head is None:
        return []
    end = _TOP_LEVEL.search(kconfig, head.end())  # the next top-level statement
    return kconfig[head.end() + 1 : end.start() if end else len(kconfig)].splitlines()


_TOP_LEVEL = re.compile(r"\n(?=\S)")


def _max_order(kconfig: str, symbols: set[str]) -> tuple[int | None, tuple[int, int] | None]:
    """The first default and range of the MAX_ORDER entry whose condition holds."""
    default = value_range = None
    for line in _entry(kconfig, _MAX_ORDER_SYMBOLS):
        if m := _DEFAULT.match(line):
            if default is None and _holds(m[2], symbols):
                default = int(m[1])
        elif (m := _RANGE.match(line)) and value_range is None and _holds(m[3], symbols):
            value_range = (int(m[1]), int(m[2]))
    return default, value_range


def _section_size_bits(header: str, symbols: set[str]) -> int | None:
    """SECTION_SIZE_BITS as the preprocessor would define it for these symbols."""
    active: list[bool] = []  # per #if level: is this branch taken
    taken: list[bool] = []  # per #if level: was any branch taken
    for line in header.splitlines():
        m = re.match(r"\s*#\s*(\w+)\s*(.*?)\s*(?:/\*.*)?$", line)
        if not m:
            continue
        directive, rest = m.groups()
        if directive in ("if", "ifdef", "ifndef"):
            holds = _holds(rest, symbols)
            holds = not holds if directive == "ifndef" else holds
            active.append(holds)
            taken.append(holds)
        elif directive == "elif" and active:
            active[-1] = not taken[-1] and _holds(rest, symbols)
            taken[-1] = taken[-1] or active[-1]
        elif directive == "else" and active:
            active[-1] = not taken[-1]
            taken[-1] = True
        elif directive == "endif" and active:
            active.pop()
            taken.pop()
        elif directive == "define" and all(active) and rest.startswith("SECTION_SIZE_BITS"):
            bits = re.fullmatch(r"SECTION_SIZE_BITS\s+(\d+)", rest)
            return int(bits[1]) if bits else None
    return None


def max_order_entry(root: str | Path, preset: str) -> tuple[str, int] | None:
    """(path, line) of the Kconfig entry that sets MAX_ORDER for a preset's
    architecture (ARCH_FORCE_MAX_ORDER, FORCE_MAX_ZONEORDER before 6.1), or None when
    it has none and mmzone.h's default is all it gets."""
    rel = f"arch/{PRESETS[preset.partition(':')[0]].arch}/Kconfig"
    kconfig = "\n" + _read(Path(root) / rel)
    head = re.search(rf"\nconfig[ \t]+(?:{'|'.join(_MAX_ORDER_SYMBOLS)})[ \t]*$", kconfig, re.M)
    return (rel, kconfig.count("\n", 0, head.start()) + 1) if head else None


def config_symbols(preset: str) -> tuple[frozenset[str], frozenset[str]]:
    """(set, unset): the CONFIG_ symbols a 64-bit configuration of a preset always has
    (its architecture, MMU, SPARSEMEM), and those it never has (other architectures,
    FLATMEM, HIGHMEM, a variable huge page size outside powerpc).  Options such as
    SPARSEMEM_VMEMMAP or HUGETLB_PAGE are in neither: code under them may be built."""
    name = preset.partition(":")[0]
    always = {"64BIT", "MMU", "SPARSEMEM"} | _SYMBOLS[name]
    page_sizes = {"PAGE_SIZE_4KB", "PAGE_SIZE_16KB", "PAGE_SIZE_64KB"}
    never = (set().union(*_SYMBOLS.values()) | _ARCHITECTURES) - always - page_sizes
    never |= {"FLATMEM", "32BIT", "HIGHMEM"}
    if PRESETS[name].arch != "powerpc":
        never.add("HUGETLB_PAGE_SIZE_VARIABLE")
    return (
        frozenset(f"CONFIG_{s}" for s in always),
        frozenset(f"CONFIG_{s}" for s in never - always),
    )


def config_options() -> frozenset[str]:
    """The options of a distribution configuration (_COMMON), for guards' conditions."""
    return frozenset(f"CONFIG_{s}" for s in _COMMON)
