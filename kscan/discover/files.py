"""Which files to scan: expand the paths on the command line into C sources.

Paths may be files, directories or globs.  Walking is iterative and scandir-based
(a kernel tree has ~90k files) and never reads file contents; workers find binary
and non-UTF-8 files later.  Symlinks are followed only inside the tree, and each
resolved directory is walked once, so aliases and loops cost nothing.  A symlinked
file is scanned once: not at all when the file it names is scanned under its own name.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

C_SUFFIXES = (".c", ".h")
_GLOB_MAGIC = re.compile(r"[*?[]")


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path  # absolute path to read
    rel: str  # as reported: relative to the tree root, else to cwd, else absolute


class DiscoverError(Exception):
    """One-line user-facing error (missing path, ...)."""


def discover(
    paths: Sequence[str],
    root: Path | None,
    excludes: Sequence[str] = (),
    follow_symlinks: bool = False,
) -> tuple[list[SourceFile], list[str]]:
    """Return the .c/.h files below `paths` (sorted, deduplicated) and one-line warnings."""
    namer = _Namer(root)
    excluded = _Excluder(excludes)
    found: dict[str, SourceFile] = {}
    links: list[tuple[Path, str, str]] = []
    warnings: list[str] = []
    for arg in paths:
        for path, rel, target in _expand(arg, namer, excluded, follow_symlinks, warnings):
            if target:
                links.append((path, rel, target))
            elif rel not in found:
                found[rel] = SourceFile(path, rel)
    # After every argument: a link's target may be scanned through a later one.
    targets: set[str] = set()
    for path, rel, target in sorted(links, key=itemgetter(1)):
        if rel not in found and namer.rel(target) not in found and target not in targets:
            targets.add(target)
            found[rel] = SourceFile(path, rel)
    return [found[rel] for rel in sorted(found)], sorted(warnings)


def _expand(
    arg: str, namer: _Namer, excluded: _Excluder, follow: bool, warnings: list[str]
) -> list[tuple[Path, str, str | None]]:
    """(path, rel, None) for one command-line argument's files, (path, rel, real path)
    for its symlinked files."""
    glob = None
    # A name that exists is taken literally, even if it contains glob characters.
    if os.path.exists(arg):
        top = os.path.abspath(arg)
    elif _GLOB_MAGIC.search(arg) and not os.path.lexists(arg):
        glob = _Glob(arg)
        top = os.path.abspath(glob.base)
        if not os.path.isdir(top):
            raise DiscoverError(f"no such file or directory: {arg}")
    else:
        raise _unreachable(arg)
    rel = namer.rel(top)
    if excluded.path(rel):
        return []
    if not os.path.isdir(top):
        if not os.path.isfile(top):  # a pipe or a device: reading it may never end
            warnings.append(f"{rel}: not a regular file, skipped")
            return []
        # Named explicitly, so scanned whatever its suffix.
        return [(Path(top), rel, os.path.realpath(top) if os.path.islink(top) else None)]

    def want_dir(sub: str, name: str) -> bool:
        return (glob is None or glob.may_select_dir(sub)) and not excluded.name_or_rel(
            name, _join(rel, sub)
        )

    def want_file(sub: str, name: str) -> bool:
        return (
            name.endswith(C_SUFFIXES)
            and (glob is None or glob.selects(sub))
            and not excluded.name_or_rel(name, _join(rel, sub))
        )

    # With no tree root, symlinks may not leave the path the user gave.
    boundary = namer.root_real or os.path.realpath(top)
    walker = _Walker(rel, boundary, follow, want_dir, want_file, warnings)
    files = [(path, _join(rel, sub), target) for path, sub, target in walker.walk(top)]
    if glob and not files:
        raise DiscoverError(f"no such file or directory: {arg}")
    return files


def _unreachable(arg: str) -> DiscoverError:
    """Why a path that does not exist as a file cannot be scanned: a loop of symlinks
    or a dangling one is not a missing file."""
    try:
        os.stat(arg)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return DiscoverError(f"{arg}: symlink loop (too many levels of symbolic links)")
        if os.path.islink(arg):
            return DiscoverError(f"{arg}: broken symlink to {os.readlink(arg)}")
        if err.errno == errno.EACCES:
            return DiscoverError(f"{arg}: permission denied")
    return DiscoverError(f"no such file or directory: {arg}")


def _join(rel: str, sub: str) -> str:
    return f"{rel}/{sub}" if rel else sub


def _under(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


def _relative(path: str, base: str) -> str | None:
    if path == base:
        return ""
    prefix = base.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


class _Namer:
    """Turns absolute paths into reported paths: root-relative, cwd-relative, or absolute."""

    __slots__ = ("root_abs", "root_real", "cwd")

    def __init__(self, root: Path | None) -> None:
        self.root_abs = os.path.abspath(root) if root else None
        self.root_real = os.path.realpath(root) if root else None
        self.cwd = os.getcwd()

    def rel(self, path: str) -> str:
        if self.root_abs and self.root_real:
            # The root may have been found through a symlink the user did not type.
            for candidate, base in (
                (path, self.root_abs),
                (os.path.realpath(path), self.root_real),
            ):
                rel = _relative(candidate, base)
                if rel is not None:
                    return rel
        rel = _relative(path, self.cwd)
        return path if rel is None else rel


class _Excluder:
    """fnmatch patterns tested against a reported path and each of its components."""

    __slots__ = ("_match",)

    def __init__(self, patterns: Sequence[str]) -> None:
        regex = "|".join(fnmatch.translate(pattern) for pattern in patterns)
        self._match = re.compile(regex).match if patterns else None

    def name_or_rel(self, name: str, rel: str) -> bool:
        return self._match is not None and bool(self._match(name) or self._match(rel))

    def path(self, rel: str) -> bool:
        """Check every leading part of `rel`, for paths entered below an excluded directory."""
        if self._match is None or not rel:
            return False
        parts = rel.split("/")
        return any(self.name_or_rel(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts))


class _Glob:
    """A glob split into a literal base directory and a pattern matched below it.

    `*`, `?` and `[...]` stay within one path component and `**` spans any number of
    them, as in glob.glob(recursive=True).  A matching directory selects everything
    below it.  Walking the base ourselves keeps the symlink and loop rules in one place.
    """

    __slots__ = ("base", "_regex", "_fixed")

    def __init__(self, pattern: str) -> None:
        parts = pattern.split("/")
        first = next(i for i, part in enumerate(parts) if _GLOB_MAGIC.search(part))
        self.base = "/".join(parts[:first]) or ("/" if pattern.startswith("/") else ".")
        rest = [part for part in parts[first:] if part]
        self._regex = re.compile(_glob_regex(rest) + "(?:/.*)?", re.DOTALL)
        # Components before the first ** sit at fixed depths: prune directories there.
        fixed = rest[: rest.index("**")] if "**" in rest else rest
        self._fixed = [re.compile(_component_regex(part)) for part in fixed]

    def selects(self, sub: str) -> bool:
        return self._regex.fullmatch(sub) is not None

    def may_select_dir(self, sub: str) -> bool:
        depth = sub.count("/")
        if depth >= len(self._fixed):
            return True
        return self._fixed[depth].fullmatch(sub.rsplit("/", 1)[-1]) is not None


def _glob_regex(parts: list[str]) -> str:
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
        else:
            out.append(_component_regex(part) + ("" if last else "/"))
    return "".join(out)


def _component_regex(part: str) -> str:
    """Like fnmatch.translate, but wildcards never cross a '/'."""
    out = []
    i = 0
    while i < len(part):
        char = part[i]
        end = part.find("]", i + 2) if char == "[" else -1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif end != -1:
            body = part[i + 1 : end].replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


class _Walker:
    """Iterative scandir walk of one top directory.

    Real directories are walked before symlinked ones, so a file reachable both ways
    is reported under its real path and the alias is skipped as already visited.
    """

    __slots__ = ("rel", "boundary", "follow", "want_dir", "want_file", "warnings", "visited")

    def __init__(
        self,
        rel: str,
        boundary: str,
        follow: bool,
        want_dir: Callable[[str, str], bool],
        want_file: Callable[[str, str], bool],
        warnings: list[str],
    ) -> None:
        self.rel = rel
        self.boundary = boundary
        self.follow = follow
        self.want_dir = want_dir
        self.want_file = want_file
        self.warnings = warnings
        self.visited: set[str] = set()

    def walk(self, top: str) -> Iterator[tuple[Path, str, str | None]]:
        """Yield (path, sub, None) for wanted files, (path, sub, real path) for wanted
        symlinks to files; sub is relative to top, '/'-separated."""
        real = os.path.realpath(top)
        self.visited.add(real)
        # Paths are built as dir / name: much cheaper than parsing Path(str) 60k times.
        top_path = Path(top)
        dirs = [(top_path, "", real)]
        links: list[tuple[str, str, str, str]] = []  # (path, sub, name, real parent)
        while dirs or links:
            if not dirs:
                # Sorted, so which of two aliases gets walked does not depend on the filesystem.
                links.sort(key=itemgetter(1), reverse=True)
                path, sub, name, parent = links.pop()
                target = self._resolve(path, sub, name, parent)
                if target is None:
                    continue
                if os.path.isdir(target):
                    self.visited.add(target)
                    dirs.append((Path(path), sub, target))
                else:
                    yield Path(path), sub, target
                continue
            directory, sub, real = dirs.pop()
            try:
                with os.scandir(directory) as it:
                    entries = list(it)
            except OSError as err:
                if directory == top_path:  # nothing of what was asked for can be scanned
                    raise DiscoverError(f"cannot read {top}: {err.strerror}") from None
                shown = self._show(sub) or str(directory)
                self.warnings.append(f"{shown}: cannot read ({err.strerror})")
                continue
            for entry in entries:
                name = entry.name
                child = f"{sub}/{name}" if sub else name
                if entry.is_symlink():
                    links.append((entry.path, child, name, real))
                elif entry.is_dir(follow_symlinks=False):
                    child_real = os.path.join(real, name)
                    if (
                        name != ".git"
                        and child_real not in self.visited
                        and self.want_dir(child, name)
                    ):
                        self.visited.add(child_real)
                        dirs.append((directory / name, child, child_real))
                elif entry.is_file(follow_symlinks=False) and self.want_file(child, name):
                    yield directory / name, child, None

    def _resolve(self, path: str, sub: str, name: str, parent: str) -> str | None:
        """The real path a symlink should be walked as, or None (with a warning if it matters)."""
        target = os.path.realpath(path)
        is_dir = os.path.isdir(target)
        if not (self.want_dir if is_dir else self.want_file)(sub, name):
            return None
        if not os.path.exists(target):
            self.warnings.append(f"{self._show(sub)}: skipped broken symlink")
        elif not is_dir and not os.path.isfile(target):
            self.warnings.append(f"{self._show(sub)}: skipped symlink to {target}, not a file")
        elif not self.follow and not _under(target, self.boundary):
            self.warnings.append(
                f"{self._show(sub)}: skipped symlink to {target}, outside {self.boundary}"
            )
        elif is_dir and _under(parent, target):
            self.warnings.append(f"{self._show(sub)}: skipped symlink loop back to {target}")
        elif not (is_dir and target in self.visited):
            return target
        return None

    def _show(self, sub: str) -> str:
        return _join(self.rel, sub)
