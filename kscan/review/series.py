"""Scan a patch series: what does each patch add to, or take away from, the findings?

Patches come from mail (kscan/review/mail.py reads it) or from a range of commits.
They are applied with `git apply` in a throwaway copy of the files the analysis
needs, in a fresh temporary repository: read from git at the base commit
(`git cat-file`, no checkout) when the tree is a git repository, copied otherwise.
The user's tree, index, branches and .git are never written to, none of the
repository's hooks, filters or config run, and the copy is removed on the way out,
Ctrl-C included.

Each patch gets a status: applied (at its lines, at an offset, or with fuzz), already
applied (it applies in reverse), or does not apply (every failing hunk named with the
tree's nearest match).  The series goes on past a patch that does not apply unless
asked to stop.  An applied patch is judged by scanning the C files it touches before
and after it; findings are matched by fingerprint, so lines that merely move are not
news, and code moved to another file keeps its findings.  A file either scan could not
analyse (over --file-budget, too large, nested too deeply) is named with the patch, and
its findings are left out of both sides: a patch that makes a file too costly to
analyse must not read as removing the findings there, nor hide the ones it adds.
"""

from __future__ import annotations

import bisect
import re
import shutil
import signal
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import NamedTuple, NoReturn

from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchSet

from kscan.discover.treeinfo import MAKEFILE, MMZONE
from kscan.findings import Finding, Location, code_of, subtract
from kscan.results import (
    ALREADY_APPLIED,
    APPLIED,
    FAILED,
    FUZZ,
    JUDGED,
    NO_C_CHANGE,
    NOT_JUDGED,
    NOT_TRIED,
    OFFSET,
    UNREADABLE,
    Change,
    Hunk,
    NotAnalysed,
    Patch,
    PatchResult,
)
from kscan.review import hunks as placing

# What a copy needs besides the touched files: the tree's version and MAX_ORDER era.
TREE_FILES = (MAKEFILE, MMZONE)

_FUNCTION = re.compile(r"(\w+)\s*\(")


class SeriesError(Exception):
    """One-line, user-facing: a patch that cannot be read, a bad range."""


def parse_patch(name: str, subject: str, text: str) -> Patch:
    """Split a patch per file and refuse paths that leave the tree."""
    try:
        patch_set = PatchSet(text)
    except UnidiffParseError as err:
        raise SeriesError(f"{name}: not a patch: {err}") from None
    if not patch_set:
        raise SeriesError(f"{name}: no diff in this patch")
    paths, hunks, binary = set(), [], set()
    for patched in patch_set:
        names = {
            _safe_path(name, raw)
            for raw in (patched.source_file, patched.target_file)
            if raw and raw != "/dev/null"
        }
        paths |= names
        if patched.is_binary_file:
            binary |= names
        path = _safe_path(name, patched.path)
        source = "" if patched.is_added_file else _safe_path(name, patched.source_file)
        for hunk in patched:
            header = (
                f"@@ -{hunk.source_start},{hunk.source_length} "
                f"+{hunk.target_start},{hunk.target_length} @@"
            )
            if hunk.section_header:
                header += " " + hunk.section_header
            lines = tuple(
                (line.line_type + line.value.rstrip("\n"), line.source_line_no, line.target_line_no)
                for line in hunk
                if line.line_type in "+- "
            )
            hunks.append(Hunk(path, header, lines, source))
    return Patch(name, subject, text, tuple(hunks), tuple(sorted(paths)), tuple(sorted(binary)))


def _safe_path(name: str, raw: str) -> str:
    """The tree-relative path of a patch header, or a refusal if it could leave the tree."""
    if raw.startswith("/"):
        raise SeriesError(f"{name}: refusing absolute path {raw!r}")
    parts = PurePosixPath(raw).parts
    if raw.startswith(("a/", "b/")):
        parts = parts[1:]
    if not parts or ".." in parts:
        raise SeriesError(f"{name}: refusing path {raw!r}: it leaves the tree")
    return "/".join(parts)


# -- the throwaway copy ---------------------------------------------------------------


def git_top(tree: Path) -> Path | None:
    """`tree` itself if it is the top of a git repository, else None.

    A kernel tree inside some unrelated repository is treated as a plain directory.
    """
    done = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or Path(done.stdout.strip()).resolve() != tree.resolve():
        return None
    return tree


@contextmanager
def workspace(tree: Path, paths: Sequence[str], base: str | None = None) -> Iterator[Path]:
    """A throwaway copy of `tree` holding `paths` (where they exist) and TREE_FILES.

    A fresh temporary repository: in a git tree the files are read at `base` (default
    HEAD) with `git cat-file`, elsewhere copied.  Nothing of the user's repository is
    used beyond reading blobs (no worktree, no checkout), so none of its hooks, filters
    or config run, and its .git is not touched.  Yields the copy's root; patches apply
    relative to it.
    """
    git = git_top(tree) is not None
    if base is not None and not git:
        raise SeriesError(f"{tree} is not the top of a git repository")
    wanted = sorted({*paths, *TREE_FILES})
    temp = Path(tempfile.mkdtemp(prefix="kscan-series-"))
    with _interrupts_as_exceptions():
        try:
            if git:
                _checkout(tree, temp, wanted, base or "HEAD")
            else:
                _copy(tree, temp, wanted)
            # find_root() wants mm/ even when a patch touches only include/.
            (temp / "mm").mkdir(exist_ok=True)
            yield temp
        finally:
            with _interrupts_ignored():
                shutil.rmtree(temp, ignore_errors=True)


def _copy(tree: Path, temp: Path, paths: Sequence[str]) -> None:
    for rel in paths:
        if (tree / rel).is_file():
            (temp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(tree / rel, temp / rel)
    _git(temp, "init", "-q")  # so `git apply` works here and nowhere else


def _checkout(tree: Path, temp: Path, paths: Sequence[str], base: str) -> None:
    """The blobs of `paths` at `base`, raw (cat-file runs no smudge filter or textconv)."""
    commit = _git(tree, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").strip()
    present = _git(tree, "ls-tree", "-r", "--name-only", commit, "--", *paths).splitlines()
    for rel in present:
        target = temp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git_bytes(tree, "cat-file", "blob", f"{commit}:{rel}"))
    _git(temp, "init", "-q")  # so `git apply` works here, with a config of its own


@dataclass(frozen=True, slots=True)
class Plan:
    """How a patch applies to the copy as it is now, found without changing it."""

    status: str
    notes: tuple[str, ...] = ()
    options: tuple[str, ...] = ()  # for git apply: the binary files left out, fuzz


def plan(root: Path, patch: Patch) -> Plan:
    """Whether `patch` applies to the copy: as it is, only in reverse (it is in the tree
    already), with fuzz (one line of context is enough), or not at all."""
    if patch.unreadable:
        return Plan(UNREADABLE, (patch.unreadable,))
    if set(patch.binary) >= set(patch.paths):
        return Plan(NO_C_CHANGE, (f"binary: {', '.join(patch.binary)}",))
    # Binary files: kscan reads none, and "Binary files differ" has nothing to apply.
    options = tuple(f"--exclude={_literal(path)}" for path in patch.binary)
    if _applies(root, patch, *options):
        return Plan(APPLIED, options=options)
    if _applies(root, patch, *options, "--reverse"):
        return Plan(ALREADY_APPLIED, ("it applies in reverse: the tree has it",))
    if _applies(root, patch, *options, "-C1"):
        return Plan(FUZZ, options=(*options, "-C1"))
    return Plan(FAILED, _failures(root, patch))


def apply(root: Path, patch: Patch, how: Plan) -> tuple[Plan, tuple[Hunk, ...]]:
    """Apply `patch` as planned; the plan refined by where its hunks went (an offset,
    context that differs), and its hunks as they landed."""
    before = {path: _lines(root / path) for path in {h.source for h in patch.hunks if h.source}}
    _git(root, "apply", *how.options, "-", stdin=patch.diff)
    after = {path: _lines(root / path) for path in patch.sources}
    notes: list[str] = []
    landed: list[Hunk] = []
    numbers: Counter[str] = Counter()  # hunks so far, per file
    for hunk in patch.hunks:
        numbers[hunk.path] += 1
        old = before.get(hunk.source) or placing.Lines([])
        at = placing.place(old, placing.pre_image(hunk), placing.stated_start(hunk, False))
        where = f"{hunk.path}: hunk {numbers[hunk.path]} at line {at.line}"
        if not at.exact:
            notes.append(f"{where}: {at.size - at.equal} of {at.size} lines differ from the tree")
        elif at.offset:
            notes.append(f"{where} (offset {at.offset:+d} lines)")
        new = after.get(hunk.path)
        landed.append(placing.landed(hunk, old, new) if new and new.lines else hunk)
    status = how.status if how.status == FUZZ or not notes else OFFSET
    return replace(how, status=status, notes=tuple(notes)), tuple(landed)


def _applies(root: Path, patch: Patch, *options: str) -> bool:
    done = subprocess.run(
        [*GIT, "apply", "--check", *options, "-"],
        cwd=root,
        input=patch.diff,
        capture_output=True,
        text=True,
    )
    return done.returncode == 0


def _failures(root: Path, patch: Patch) -> tuple[str, ...]:
    """Every file and hunk of `patch` that does not apply, each with where the tree
    comes closest to it."""
    notes: list[str] = []
    numbers: Counter[str] = Counter()  # hunks so far, per file
    for path in patch.paths:
        if path in patch.binary:
            continue
        hunks = [h for h in patch.hunks if h.path == path]
        sources = {h.source for h in hunks}
        if hunks and sources == {""} and (root / path).exists():
            notes.append(f"{path}: a new file, but the tree has it already")
            continue
        missing = sorted(s for s in sources if s and not (root / s).is_file())
        if missing:
            notes.append(f"{missing[0]}: not in the tree")
            continue
        files = {source: _lines(root / source) for source in sources if source}
        for hunk in hunks:
            numbers[path] += 1
            problem = _hunk_failure(files, hunk)
            if problem:
                notes.append(f"{path}: hunk {numbers[path]} {_where(hunk)}: {problem}")
    return tuple(notes) or ("git apply refused it, though each hunk has its match",)


def _hunk_failure(files: dict[str, placing.Lines], hunk: Hunk) -> str | None:
    """Why `hunk` does not apply to its file (in `files`, by path), or None if it does."""
    if not hunk.source:
        return None
    file = files[hunk.source]
    lines, block = file.lines, placing.pre_image(hunk)
    at = placing.place(file, block, placing.stated_start(hunk, new_side=False))
    if at.exact:
        return None
    done = placing.place(file, placing.post_image(hunk), placing.stated_start(hunk, True))
    if done.exact and done.size:
        return f"already in the tree at line {done.line}"
    if not at.found:
        return f"nothing in {hunk.source} resembles it"
    differs = placing.first_difference(lines, block, at)
    assert differs is not None, "a match that is not exact differs in some line"
    line = at.line + differs
    tree = lines[line - 1].strip() if line <= len(lines) else "(the end of the file)"
    return (
        f"nearest match at line {at.line} ({at.equal} of {at.size} lines agree); "
        f"at line {line} the tree has `{tree}` where the patch expects `{block[differs].strip()}`"
    )


def _where(hunk: Hunk) -> str:
    """The hunk's line ranges and, from its section heading, the function it is in."""
    ranges, _, section = hunk.header.partition(" @@")
    function = _FUNCTION.findall(section)
    return f"{ranges} @@" + (f" in {function[-1]}()" if function else "")


def _lines(path: Path) -> placing.Lines:
    """A file's lines as a patch sees them (a form feed ends no line)."""
    try:
        return placing.Lines(path.read_bytes().decode("utf-8", "replace").split("\n"))
    except OSError:
        return placing.Lines([])


def _literal(path: str) -> str:
    """`path` as a git wildmatch pattern that matches only itself."""
    return re.sub(r"([][*?\\])", r"\\\1", path)


# The tree's hooks (post-checkout runs on our checkout) and fsmonitor are its code: off.
GIT = ("git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")


def _git_bytes(cwd: Path, *args: str) -> bytes:
    done = subprocess.run([*GIT, *args], cwd=cwd, capture_output=True)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SeriesError(f"git {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout


def _git(cwd: Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(
        [*GIT, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
    )
    if check and done.returncode != 0:
        message = done.stderr.strip().splitlines()
        raise SeriesError(f"git {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout


@contextmanager
def _interrupts_as_exceptions() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C does, so the copy is removed either way."""

    def interrupt(_signum: int, _frame: FrameType | None) -> NoReturn:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """A second Ctrl-C must not cut the cleanup short."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# -- commits as patches -------------------------------------------------------------


def commit_range(tree: Path, spec: str) -> tuple[str, list[Patch]]:
    """The merge base and the commits of "A..B" (or "A", meaning A..HEAD) as patches."""
    if git_top(tree) is None:
        raise SeriesError(f"{tree} is not the top of a git repository")
    if "..." in spec:
        raise SeriesError(f"use A..B, not a symmetric range: {spec!r}")
    start, _, end = spec.partition("..")
    start, end = start or "HEAD", end or "HEAD"
    base = _git(tree, "merge-base", start, end).strip()
    commits = _git(tree, "rev-list", "--reverse", "--no-merges", f"{base}..{end}").split()
    patches = []
    for commit in commits:
        subject = _git(tree, "log", "-1", "--format=%s", commit).strip()
        diff = _git(tree, "diff-tree", "-p", "--binary", "--full-index", f"{commit}^", commit)
        patches.append(parse_patch(f'{commit[:12]} ("{subject}")', subject, diff))
    if not patches:
        raise SeriesError(f"no commits in {spec}")
    return base, patches


# -- judging a series ----------------------------------------------------------------


class Scanned(NamedTuple):
    """A scan of the files a patch touches: its findings, and the files it could not
    analyse."""

    findings: list[Finding]
    not_analysed: list[NotAnalysed]


Scanner = Callable[[Path, list[str], Patch], Scanned]


def run_series(
    tree: Path,
    patches: Sequence[Patch],
    scanner: Scanner,
    base: str | None = None,
    stop_on_fail: bool = False,
) -> list[PatchResult]:
    """Apply `patches` in order in a copy of `tree`; scan each one's C files around it.
    A patch that does not apply is passed over (the next ones are tried without it),
    or ends the series with `stop_on_fail`."""
    touched = sorted({path for patch in patches for path in patch.paths})
    results: list[PatchResult] = []
    with workspace(tree, touched, base) as root:
        for patch in patches:
            if stop_on_fail and any(r.status in NOT_JUDGED for r in results):
                results.append(PatchResult(patch, (), (), NOT_TRIED, ("--stop-on-fail",)))
                continue
            results.append(_judge(root, patch, scanner))
    return results


def _judge(root: Path, patch: Patch, scanner: Scanner) -> PatchResult:
    how = plan(root, patch)
    if how.status not in JUDGED:
        return PatchResult(patch, (), (), how.status, how.notes)
    sources = patch.sources
    before = _scan_existing(root, sources, patch, scanner)
    how, landed = apply(root, patch, how)
    if not sources:
        return PatchResult(patch, (), (), NO_C_CHANGE, how.notes)
    after = _scan_existing(root, sources, patch, scanner)
    unknown = _unknown(before, after)
    old, new = _known(before, unknown), _known(after, unknown)
    introduced, removed = subtract(new, old), subtract(old, new)
    introduced, removed, moved = _without_moves(introduced, removed)
    return PatchResult(
        patch,
        _changes(introduced, landed, new_side=True),
        _changes(removed, landed, new_side=False),
        how.status,
        how.notes,
        moved,
        not_analysed=tuple(unknown.values()),
    )


def _scan_existing(root: Path, paths: list[str], patch: Patch, scanner: Scanner) -> Scanned:
    present = [p for p in paths if (root / p).is_file()]
    return scanner(root, present, patch) if present else Scanned([], [])


def _unknown(before: Scanned, after: Scanned) -> dict[str, NotAnalysed]:
    """path -> why it was not analysed before the patch, after it or both (the reason
    after it, when both have one): the patch's effect on its findings is unknown."""
    reasons: dict[str, dict[str, str]] = {}
    for when, scanned in (("before", before), ("after", after)):
        for file in scanned.not_analysed:
            reasons.setdefault(file.path, {})[when] = file.reason
    unknown = {}
    for path, why in sorted(reasons.items()):
        reason = why.get("after") or why["before"]
        unknown[path] = NotAnalysed(path, f"{' and '.join(why)} the patch: {reason}")
    return unknown


def _known(scanned: Scanned, unknown: dict[str, NotAnalysed]) -> list[Finding]:
    return [f for f in scanned.findings if f.location.path not in unknown]


def _without_moves(
    introduced: list[Finding], removed: list[Finding]
) -> tuple[list[Finding], list[Finding], int]:
    """Findings that left one file and arrived in another (a rename, a function moved)
    with the same rule, function and code: they moved, they are not news."""

    def key(finding: Finding) -> tuple[str, str | None, str]:
        return finding.rule_id, finding.location.function, code_of(finding.source_line)

    arrived = subtract(introduced, removed, key)
    left = subtract(removed, introduced, key)
    return arrived, left, len(introduced) - len(arrived)


def _changes(findings: list[Finding], hunks: Sequence[Hunk], new_side: bool) -> tuple[Change, ...]:
    nearest = _NearestHunk(hunks, new_side)
    return tuple(Change(f, nearest.to(f.location), new_side) for f in findings)


class _NearestHunk:
    """The hunk whose side of a file holds a line, else the nearest (the first in the
    patch of two as near).  A side's line numbers run on through a hunk, so a hunk is
    its first and last line; sorted once, each finding bisects them instead of
    looking at every line of every hunk (a new file's one hunk holds them all)."""

    def __init__(self, hunks: Sequence[Hunk], new_side: bool) -> None:
        spans: dict[str, list[tuple[int, int, int, Hunk]]] = {}
        for order, hunk in enumerate(hunks):
            side = [new if new_side else old for _, old, new in hunk.lines]
            numbers = [n for n in side if n is not None]
            if numbers:
                path = hunk.path if new_side else hunk.source
                spans.setdefault(path, []).append((numbers[0], numbers[-1], order, hunk))
        self._spans = {path: sorted(found) for path, found in spans.items()}
        self._firsts = {path: [s[0] for s in found] for path, found in self._spans.items()}
        # hunks of one file lie apart in a patch git wrote; any other way, look at each
        self._apart = {
            path: all(a[1] < b[0] for a, b in zip(found, found[1:], strict=False))
            for path, found in self._spans.items()
        }

    def to(self, where: Location) -> Hunk | None:
        path, line = where.path, where.line
        spans = self._spans.get(path)
        if not spans:
            return None
        if self._apart[path]:
            at = bisect.bisect_right(self._firsts[path], line)
            spans = spans[max(at - 1, 0) : at + 1]
        return min(spans, key=lambda s: (_gap(line, s[0], s[1]), s[2]))[3]


def _gap(line: int, first: int, last: int) -> int:
    return 0 if first <= line <= last else min(abs(line - first), abs(line - last))
