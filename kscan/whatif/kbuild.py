"""Whether the chosen architecture's build can compile a file: Kbuild and Kconfig, read
as far as they say it.

A C file is built when every Makefile on the way down to it adds it: `obj-y +=
dir/`, `obj-$(CONFIG_X) += dir/` or `x.o`, or a composite (`foo-objs := ... x.o`, with
foo.o added in turn).  A `CONFIG_X` can be set unless the `depends on` lines of its
Kconfig entry (and of the `if` and `menu` blocks around it) are false whatever the
symbols nobody pins down are, or, for a symbol without a prompt, no default and no
`select` can set it: the architecture's own symbols are set, another architecture's
and COMPILE_TEST are not (kscan/model/archtree.py), nor is a symbol no Kconfig the
architecture reads defines, and a symbol that cannot be set makes what depends on it
false in turn (three levels deep).
A header is built when a C file of its directory is.  Whatever cannot be read counts
as built: the check only ever removes sites, never adds them.

So `drivers/net/ethernet/hisilicon/hns3/hns3_enet.c` is not built on x86_64: its
directory is added by `obj-$(CONFIG_NET_VENDOR_HISILICON) += hisilicon/`, and
NET_VENDOR_HISILICON depends on `ARM || ARM64 || COMPILE_TEST`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from kscan.whatif.target import compiled

_ASSIGNMENT = re.compile(r"^([\w$().-]+?)\s*[:+]?=\s*(.*)$", re.M)
_OBJECTS_SUFFIX = re.compile(r"-(?:objs|y|\$\(CONFIG_\w+\))$")
_COMPARISON = re.compile(r"[=<>]")
_CONFIG_IN_LHS = re.compile(r"\$\(CONFIG_(\w+)\)")
_ENTRY = re.compile(r"^(?:menu)?config\s+(\w+)\s*$")
_TOP_LEVEL = re.compile(
    r"^(?:config|menuconfig|choice|endchoice|menu|endmenu|if|endif|source|comment)\b"
)
_DEPENDS = re.compile(r"^\s+depends\s+on\s+(.+?)\s*(?:#.*)?$")
_SYMBOL = re.compile(r"\b[A-Z0-9_]*[A-Z][A-Z0-9_]*\b")  # 64BIT too
_DEPTH = 3


class Kbuild:
    def __init__(self, root: Path, arch: str, config: tuple[frozenset[str], frozenset[str]]):
        self.root = root
        self.arch = arch
        self.always, never = config
        self.never = never | {"CONFIG_COMPILE_TEST"}
        self.built = cache(self._built)
        self._can_set = cache(self._can_set_uncached)

    def _built(self, rel: str) -> bool:
        directory, _, name = rel.rpartition("/")
        if not directory:
            return True
        if name.endswith(".h"):
            sources = self._sources(directory)
            return not sources or any(self.built(f"{directory}/{s}") for s in sources)
        if name.endswith(".c") and self._added(directory, name[:-2] + ".o") is False:
            return False
        return self._directory_built(directory)

    def _directory_built(self, directory: str) -> bool:
        parent, _, name = directory.rpartition("/")
        if not parent:
            return True
        return self._added(parent, name + "/") is not False and self._directory_built(parent)

    def _sources(self, directory: str) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.root / directory) if n.endswith(".c"))
        except OSError:
            return []

    def _added(self, directory: str, target: str, depth: int = _DEPTH) -> bool | None:
        """Whether the directory's Makefile can add `target` (x.o or dir/); None when no
        line names it."""
        found = None
        for lhs, words in _assignments(self.root / directory):
            if target not in words:
                continue
            symbol = _CONFIG_IN_LHS.search(lhs)
            settable = symbol is None or self._can_set(symbol[1], depth)
            if lhs.startswith("obj-") or lhs in ("lib-y", "core-y"):
                result = settable
            elif depth and (lhs.endswith(("-objs", "-y")) or symbol):  # a composite
                name = _OBJECTS_SUFFIX.sub("", lhs)
                result = settable and self._added(directory, name + ".o", depth - 1) is not False
            else:
                continue
            if result:
                return True
            found = False
        return found

    def _can_set_uncached(self, symbol: str, depth: int) -> bool:
        """Whether some configuration of this architecture sets CONFIG_symbol: its
        `depends on` can hold, and, without a prompt, a default or a `select` can set it."""
        name = f"CONFIG_{symbol}"
        if name in self.always:
            return True
        if name in self.never:
            return False
        entry = _kconfig_entries(self.root, self.arch).get(symbol)
        if entry is None:
            return False  # no Kconfig this architecture reads defines it
        if depth == 0:
            return True
        if not self._possible(entry.depends, symbol, depth):
            return False
        if entry.prompt:
            return True
        if any(d in ("y", "m") or self._possible([d], symbol, depth) for d in entry.defaults):
            return True
        return any(self._can_set(other, depth - 1) for other in entry.selected_by)

    def _possible(self, exprs: list[str], symbol: str, depth: int) -> bool:
        unset = set()
        for expr in exprs:
            for other in set(_SYMBOL.findall(expr)) - {symbol}:
                if not self._can_set(other, depth - 1):
                    unset.add(f"CONFIG_{other}")
        conditions = [_as_c(expr) for expr in exprs]
        return compiled(conditions, (self.always, self.never | unset))


def _as_c(expr: str) -> str:
    """A Kconfig expression in the preprocessor's words: `ARM64 && !FOO` ->
    `defined(CONFIG_ARM64) && !defined(CONFIG_FOO)`; a comparison stays unreadable."""
    if _COMPARISON.search(expr):
        return "UNREADABLE("
    return _SYMBOL.sub(lambda m: f"defined(CONFIG_{m[0]})", expr)


@cache
def _assignments(directory: Path) -> list[tuple[str, list[str]]]:
    """(left side, words on the right) of each assignment in a directory's Makefile/Kbuild."""
    out = []
    for name in ("Kbuild", "Makefile"):
        try:
            text = (directory / name).read_text(errors="replace")
        except OSError:
            continue
        text = text.replace("\\\n", " ")
        out += [(m[1], m[2].split()) for m in _ASSIGNMENT.finditer(text)]
    return out


@dataclass
class _Entry:
    depends: list[str] = field(default_factory=list)
    prompt: bool = False  # a user can choose it
    defaults: list[str] = field(default_factory=list)  # `default` / `def_bool` values
    selected_by: list[str] = field(default_factory=list)


@cache
def _kconfig_entries(root: Path, arch: str) -> dict[str, _Entry]:
    """Every Kconfig entry a build for `arch` reads, by symbol (several definitions
    merged): another architecture's arch/ Kconfig is never sourced."""
    entries: dict[str, _Entry] = {}
    for top, dirs, names in os.walk(root):
        rel = os.path.relpath(top, root)
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".")
            and d not in ("tools", "Documentation")
            and (rel != "arch" or d == arch)
        ]
        for name in names:
            if name.startswith("Kconfig"):
                _read_kconfig(Path(top) / name, entries)
    return entries


def _read_kconfig(path: Path, entries: dict[str, _Entry]) -> None:
    """Each entry's options, with the conditions of the `if` and `menu` blocks around it."""
    try:
        text = path.read_text(errors="replace").replace("\\\n", " ")
    except OSError:
        return
    blocks: list[list[str]] = []  # per open if / menu / choice: its conditions
    menu: list[str] | None = None  # a menu's own `depends on` lines
    entry: tuple[str, _Entry] | None = None
    for line in text.splitlines():
        word = line.split(maxsplit=1)[0] if line[:1].isalpha() else ""
        if word in ("if", "menu", "choice"):
            blocks.append([line.split(maxsplit=1)[1]] if word == "if" and " " in line else [])
            menu, entry = (blocks[-1] if word == "menu" else None), None
        elif word in ("endif", "endmenu", "endchoice"):
            if blocks:
                blocks.pop()
            menu = entry = None
        elif (match := _ENTRY.match(line)) is not None:
            entry = (match[1], entries.setdefault(match[1], _Entry()))
            entry[1].depends.extend(c for block in blocks for c in block)
        elif word:
            menu = entry = None  # source, comment, mainmenu
        elif (depends := _DEPENDS.match(line)) is not None:
            (entry[1].depends if entry else menu if menu is not None else []).append(depends[1])
        elif entry is not None:
            _option(line.strip(), *entry, entries)


def _option(option: str, symbol: str, entry: _Entry, entries: dict[str, _Entry]) -> None:
    kind, _, rest = option.partition(" ")
    typed = kind in ("bool", "tristate", "string", "int", "hex") and rest.startswith('"')
    if typed or kind == "prompt":
        entry.prompt = True
    elif kind in ("default", "def_bool", "def_tristate"):
        entry.defaults.append(rest.split(" if ", 1)[0].strip())
    elif kind == "select" and rest:
        entries.setdefault(rest.split()[0], _Entry()).selected_by.append(symbol)
