"""What kernel tree are we in: its version and what MAX_ORDER means there.

MAX_ORDER changed meaning twice.  Before 6.4 it was exclusive (the largest buddy
order was MAX_ORDER - 1); 6.4 made it inclusive; 6.8 renamed it MAX_PAGE_ORDER and
added NR_PAGE_ORDERS.  The same `order < MAX_ORDER` test is right in one era and off
by one in the next, so rules must know which era the scanned code belongs to.
include/linux/mmzone.h says so directly; the Makefile version is the fallback.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kscan.reading import read_head

Semantics = Literal["exclusive", "inclusive", "inclusive-renamed"]  # what MAX_ORDER means
SEMANTICS: tuple[Semantics, ...] = ("exclusive", "inclusive", "inclusive-renamed")

MAKEFILE = "Makefile"
MMZONE = "include/linux/mmzone.h"
_MAKEFILE_LINES = 20  # VERSION/PATCHLEVEL/SUBLEVEL sit at the very top
_MAKEFILE_BYTES = 4096

_MAKE_VAR = re.compile(r"\s*(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d*)\s*$")
_CLI_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
_DEFINE = re.compile(r"\s*#\s*define\s+(\w+)\b(.*)")
_COMMENT = re.compile(r"/\*.*?\*/|//.*")

# How MAX_ORDER_NR_PAGES is spelled in each era, whitespace removed.
_NR_PAGES_SEMANTICS: dict[str, Semantics] = {
    "(1<<(MAX_ORDER-1))": "exclusive",
    "(1<<MAX_ORDER)": "inclusive",
    "(1<<MAX_PAGE_ORDER)": "inclusive-renamed",
}


@dataclass(frozen=True, slots=True)
class TreeInfo:
    root: Path | None
    version: tuple[int, int, int] | None  # VERSION, PATCHLEVEL, SUBLEVEL
    semantics: Semantics | None
    semantics_source: str  # "include/linux/mmzone.h:38", "Makefile version 6.1", ...
    holes_in_zone_era: bool | None  # pfn_valid_within() exists (before 5.15)
    notes: tuple[str, ...] = ()

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version)) if self.version else "unknown"


class TreeInfoError(Exception):
    """A bad --kernel-version or --max-order-semantics value, or a tree that cannot be
    read (one line)."""


@dataclass(frozen=True, slots=True)
class _Mmzone:
    """What include/linux/mmzone.h says, if it says anything recognisable."""

    semantics: Semantics | None
    line: int  # the definition that decided `semantics`
    holes: bool  # mentions pfn_valid_within()

    @property
    def where(self) -> str:
        return f"{MMZONE}:{self.line}"


def nr_pages_semantics(value: str) -> Semantics | None:
    """The era a MAX_ORDER_NR_PAGES definition's value spells, e.g. `(1 << (MAX_ORDER - 1))`."""
    return _NR_PAGES_SEMANTICS.get("".join(_COMMENT.sub("", value).split()))


def find_root(start: Path) -> Path | None:
    """Walk up from start (file or dir) to the kernel tree root: a Makefile with
    VERSION/PATCHLEVEL lines, beside mm/ and include/linux/mmzone.h."""
    start = Path(os.path.abspath(start))
    for candidate in (start, *start.parents):
        if (
            _is(candidate / "mm", stat.S_ISDIR)
            and _is(candidate / MMZONE, stat.S_ISREG)
            and _makefile_version(candidate, []) is not None
        ):
            return candidate
    return None


def _is(path: Path, kind: Callable[[int], bool]) -> bool:
    """Whether `path` is of `kind` (stat.S_ISDIR ...).  A folder on the way that may not
    be read is an error: the tree kscan was pointed at cannot be examined."""
    try:
        return bool(kind(os.stat(path).st_mode))
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EPERM):
            raise TreeInfoError(f"cannot read {path.parent}: {err.strerror}") from None
        return False  # missing, a symlink loop ...: not a tree root


def read_tree_info(
    root: Path | None, kernel_version: str | None = None, semantics: str | None = None
) -> TreeInfo:
    """Version, MAX_ORDER semantics and holes era; command-line values win over the tree."""
    cli_version = _parse_version(kernel_version) if kernel_version is not None else None
    asked = _semantics_named(semantics) if semantics is not None else None
    notes: list[str] = []
    tree_version = mmzone = None
    if root is not None:
        tree_version = _makefile_version(root, notes)
        mmzone = _read_mmzone(root, notes)
    elif cli_version is None and asked is None:
        notes.append("no kernel tree root found; pass --kernel-version / --max-order-semantics")

    version = cli_version or tree_version
    if cli_version and tree_version and cli_version[:2] != tree_version[:2]:
        notes.append(
            f"--kernel-version {kernel_version} overrides Makefile version {_text(tree_version)}"
        )

    chosen, source = _tree_semantics(tree_version, mmzone, notes)
    wanted = asked or (_semantics_for(cli_version) if cli_version else None)
    if wanted:
        if chosen and chosen != wanted:
            notes.append(f"{source} says {chosen}; using {wanted} from the command line")
        chosen, source = wanted, "command line"

    holes = _holes_for(cli_version) if cli_version else _tree_holes(tree_version, mmzone, notes)
    return TreeInfo(root, version, chosen, source, holes, tuple(notes))


def _semantics_named(text: str) -> Semantics:
    for meaning in SEMANTICS:
        if meaning == text:
            return meaning
    raise TreeInfoError(
        f"invalid --max-order-semantics {text!r}: expected one of {', '.join(SEMANTICS)}"
    )


def _parse_version(text: str) -> tuple[int, int, int]:
    match = _CLI_VERSION.fullmatch(text.strip())
    if not match:
        raise TreeInfoError(
            f"invalid --kernel-version {text!r}: expected MAJOR.MINOR[.SUBLEVEL], e.g. 6.1.119"
        )
    major, minor, sublevel = match.groups()
    return int(major), int(minor), int(sublevel or 0)


def _semantics_for(version: tuple[int, int, int]) -> Semantics:
    if version < (6, 4):
        return "exclusive"
    if version < (6, 8):
        return "inclusive"
    return "inclusive-renamed"


def _holes_for(version: tuple[int, int, int]) -> bool:
    # 5.15 removed pfn_valid_within() and CONFIG_HOLES_IN_ZONE.
    return version < (5, 15)


def _text(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))


def _tree_semantics(
    version: tuple[int, int, int] | None, mmzone: _Mmzone | None, notes: list[str]
) -> tuple[Semantics | None, str]:
    """What the tree says MAX_ORDER means, and where it says so; mmzone.h beats the Makefile."""
    implied = _semantics_for(version) if version else None
    if mmzone and mmzone.semantics:
        if version and implied and implied != mmzone.semantics:
            notes.append(
                f"{mmzone.where} says {mmzone.semantics} but Makefile version "
                f"{_text(version)} implies {implied}; trusting mmzone.h"
            )
        return mmzone.semantics, mmzone.where
    if version:
        return implied, f"Makefile version {version[0]}.{version[1]}"
    return None, "unknown"


def _tree_holes(
    version: tuple[int, int, int] | None, mmzone: _Mmzone | None, notes: list[str]
) -> bool | None:
    implied = _holes_for(version) if version else None
    if mmzone is None:
        return implied
    if version and implied is not None and implied != mmzone.holes:
        has = "mentions" if mmzone.holes else "does not mention"
        notes.append(
            f"{MMZONE} {has} pfn_valid_within() but Makefile version {_text(version)} "
            "implies otherwise; trusting mmzone.h"
        )
    return mmzone.holes


def _makefile_version(root: Path, notes: list[str]) -> tuple[int, int, int] | None:
    text = _read_text(root, MAKEFILE, notes, limit=_MAKEFILE_BYTES)
    if text is None:
        return None
    found: dict[str, str] = {}
    for line in text.splitlines()[:_MAKEFILE_LINES]:
        match = _MAKE_VAR.match(line)
        if match:
            found.setdefault(match[1], match[2])
    if not found.get("VERSION") or not found.get("PATCHLEVEL"):
        notes.append(f"{MAKEFILE}: no VERSION/PATCHLEVEL in the first {_MAKEFILE_LINES} lines")
        return None
    return int(found["VERSION"]), int(found["PATCHLEVEL"]), int(found.get("SUBLEVEL") or 0)


def _read_mmzone(root: Path, notes: list[str]) -> _Mmzone | None:
    text = _read_text(root, MMZONE, notes)
    if text is None:
        return None
    first_define: dict[str, int] = {}
    nr_pages: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _DEFINE.match(line)
        if not match:
            continue
        first_define.setdefault(match[1], number)
        if match[1] == "MAX_ORDER_NR_PAGES":
            nr_pages.append((number, "".join(_COMMENT.sub("", match[2]).split())))
    holes = "pfn_valid_within" in text
    semantics, decided_at = _classify(nr_pages, first_define)
    if semantics is None:
        spelled = " / ".join(value for _, value in nr_pages) or "not defined"
        notes.append(f"{MMZONE}: MAX_ORDER_NR_PAGES {spelled}; cannot tell MAX_ORDER semantics")
    return _Mmzone(semantics, decided_at, holes)


def _classify(
    nr_pages: list[tuple[int, str]], first_define: dict[str, int]
) -> tuple[Semantics | None, int]:
    """One era for every MAX_ORDER_NR_PAGES definition, or None."""
    eras = {_NR_PAGES_SEMANTICS.get(value) for _, value in nr_pages}
    if len(eras) != 1 or None in eras:
        return None, 0
    (era,) = eras
    if era != "inclusive-renamed":
        return era, nr_pages[0][0]
    # The rename came with NR_PAGE_ORDERS; without it this is no tree we know.
    if "MAX_PAGE_ORDER" not in first_define or "NR_PAGE_ORDERS" not in first_define:
        return None, 0
    return era, first_define["NR_PAGE_ORDERS"]


def _read_text(root: Path, name: str, notes: list[str], limit: int = -1) -> str | None:
    """The file decoded leniently, or None with a note if missing, unreadable or binary."""
    try:
        data = read_head(root / name, limit)
    except FileNotFoundError:
        notes.append(f"{name}: missing")
        return None
    except OSError as err:
        notes.append(f"{name}: unreadable ({err.strerror})")
        return None
    if b"\0" in data:
        notes.append(f"{name}: binary file, ignored")
        return None
    # The lines that matter are ASCII; a stray Latin-1 comment must not hide them.
    return data.decode("utf-8", errors="replace")
