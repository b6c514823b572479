"""Scan a patch series: what does each patch add to, or take away from, the findings?

Patches come from files (git format-patch output, plain diffs) or mbox files, or
from a range of commits.  They are applied with `git apply` in a throwaway copy of
the files the analysis needs, in a fresh temporary repository: read from git at the
base commit (`git cat-file`, no checkout) when the tree is a git repository, copied
otherwise.  The user's tree, index, branches and .git are never written to, none of
the repository's hooks, filters or config run, and the copy is removed on the way
out, Ctrl-C included.

Each patch is judged by scanning the files it touches before and after applying
it; findings are matched by fingerprint, so lines that merely move are not news.
"""

from __future__ import annotations

import mailbox
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.header import decode_header, make_header
from pathlib import Path, PurePosixPath

from unidiff import PatchSet, UnidiffParseError

from kscan.findings import Finding
from kscan.suppress import subtract
from kscan.treeinfo import MAKEFILE, MMZONE

# What a copy needs besides the touched files: the tree's version and MAX_ORDER era.
TREE_FILES = (MAKEFILE, MMZONE)
_GIT_FAILED_HUNK = re.compile(r"patch failed: (.+):(\d+)$")


class SeriesError(Exception):
    """One-line, user-facing: a patch that cannot be read or applied, a bad range."""


@dataclass(frozen=True, slots=True)
class Hunk:
    """One hunk of a patch, reduced to what reporters quote."""

    path: str  # the file after the patch (before, for a deletion)
    header: str  # "@@ -10,6 +10,9 @@ static void foo(void)"
    lines: tuple[tuple[str, int | None, int | None], ...]  # (line with +/-/space, old, new)


@dataclass(frozen=True, slots=True)
class Patch:
    name: str  # the file it came from, with the message number for an mbox
    subject: str  # "[PATCH 1/2] mm: ..." or the file name for a plain diff
    diff: str
    hunks: tuple[Hunk, ...]
    paths: tuple[str, ...]  # every path it touches, old and new names, sorted
    binary: tuple[str, ...] = ()  # of those, the binary files: never applied nor scanned

    @property
    def sources(self) -> list[str]:
        """The C files it changes."""
        return [p for p in self.paths if p.endswith((".c", ".h")) and p not in self.binary]


@dataclass(frozen=True, slots=True)
class Change:
    """A finding that a patch introduces or removes, with the hunk that explains it."""

    finding: Finding
    hunk: Hunk | None  # covering the finding's line, else the nearest in its file
    introduced: bool  # else removed: the finding's line is in the pre-image

    def quote(self, limit: int = 8) -> tuple[str, ...]:
        """The hunk header and up to `limit` hunk lines ending at the finding's line
        (the hunk's first lines if the finding lies outside it)."""
        if self.hunk is None:
            return ()
        lines = self.hunk.lines
        end = next((i + 1 for i, line in enumerate(lines) if self._at(line)), limit)
        return (self.hunk.header, *(text for text, _, _ in lines[max(end - limit, 0) : end]))

    @property
    def in_hunk(self) -> bool:
        return self.hunk is not None and any(self._at(line) for line in self.hunk.lines)

    def _at(self, line: tuple[str, int | None, int | None]) -> bool:
        text, old, new = line
        side = "+" if self.introduced else "-"
        number = new if self.introduced else old
        return number == self.finding.location.line and text[:1] in (side, " ")


@dataclass(frozen=True, slots=True)
class PatchResult:
    patch: Patch
    introduced: tuple[Change, ...]
    removed: tuple[Change, ...]
    note: str = ""  # why it was passed over, e.g. "no C change"


def load_patches(files: Sequence[Path]) -> list[Patch]:
    """Patches from format-patch files, mbox files and plain diffs, in order."""
    patches = []
    for path in files:
        try:
            head = path.read_bytes()[:5]
        except OSError as err:
            raise SeriesError(f"cannot read {path}: {err.strerror or err}") from None
        if head == b"From ":
            patches.extend(_from_mbox(path))
        else:
            text = path.read_bytes().decode("utf-8", "replace")
            patches.append(parse_patch(path.name, path.name, text))
    if not patches:
        raise SeriesError("no patches given")
    return patches


def _from_mbox(path: Path) -> Iterator[Patch]:
    messages = list(mailbox.mbox(path, create=False))
    for number, message in enumerate(messages, start=1):
        name = path.name if len(messages) == 1 else f"{path.name} (message {number})"
        subject = " ".join(str(make_header(decode_header(message.get("Subject", "")))).split())
        body = _diff_part(message)
        if body is None:
            if subject.startswith("[PATCH") and " 0/" in subject:
                continue  # a cover letter
            raise SeriesError(f"{name}: no diff in this message")
        yield parse_patch(name, subject or name, body)


def _diff_part(message: mailbox.mboxMessage) -> str | None:
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        payload = part.get_payload(decode=True) or b""
        text = payload.decode(part.get_content_charset() or "utf-8", "replace")
        if "\n--- " in text or "diff --git " in text:  # a binary diff has no "--- "
            return text
    return None


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
            hunks.append(Hunk(path, header, lines))
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


def apply(root: Path, patch: Patch) -> None:
    """Apply one patch in the copy, or say which patch, file and hunk did not apply.
    Binary files are left out: kscan reads none, and "Binary files differ" carries no
    content to apply."""
    if set(patch.binary) >= set(patch.paths):
        return
    exclude = [f"--exclude={_literal(path)}" for path in patch.binary]
    done = subprocess.run(
        [*GIT, "apply", *exclude, "--check", "-"],
        cwd=root,
        input=patch.diff,
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        _git(root, "apply", *exclude, "-", stdin=patch.diff)
        return
    raise SeriesError(f"{patch.name} does not apply: {_explain(patch, done.stderr)}")


def _literal(path: str) -> str:
    """`path` as a git wildmatch pattern that matches only itself."""
    return re.sub(r"([][*?\\])", r"\\\1", path)


def _explain(patch: Patch, stderr: str) -> str:
    errors = [line.removeprefix("error: ") for line in stderr.splitlines() if line.strip()]
    for line in errors:
        failed = _GIT_FAILED_HUNK.search(line)
        if failed:
            path, start = failed.group(1), int(failed.group(2))
            for hunk in patch.hunks:
                if hunk.path == path and hunk.header.startswith(f"@@ -{start},"):
                    return f"{path}: hunk {hunk.header} failed"
            return f"{path}: hunk at line {start} failed"
    return "; ".join(errors) or "git apply failed"


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

    def interrupt(_signum, _frame):
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

Scanner = Callable[[Path, list[str]], list[Finding]]


def run_series(
    tree: Path, patches: Sequence[Patch], scanner: Scanner, base: str | None = None
) -> list[PatchResult]:
    """Apply `patches` in order in a copy of `tree`; scan each one's C files around it."""
    touched = sorted({path for patch in patches for path in patch.paths})
    results = []
    with workspace(tree, touched, base) as root:
        for patch in patches:
            sources = patch.sources
            before = _scan_existing(root, sources, scanner)
            apply(root, patch)
            if not sources:
                results.append(PatchResult(patch, (), (), note=_no_c_change(patch)))
                continue
            after = _scan_existing(root, sources, scanner)
            introduced = _changes(subtract(after, before), patch, new_side=True)
            removed = _changes(subtract(before, after), patch, new_side=False)
            results.append(PatchResult(patch, introduced, removed))
    return results


def _no_c_change(patch: Patch) -> str:
    if patch.binary:
        return f"no C change (binary: {', '.join(patch.binary)})"
    return "no C change"


def _scan_existing(root: Path, paths: list[str], scanner: Scanner) -> list[Finding]:
    present = [p for p in paths if (root / p).is_file()]
    return scanner(root, present) if present else []


def _changes(findings: list[Finding], patch: Patch, new_side: bool) -> tuple[Change, ...]:
    return tuple(Change(f, _hunk_for(f, patch, new_side), new_side) for f in findings)


def _hunk_for(finding: Finding, patch: Patch, new_side: bool) -> Hunk | None:
    """The hunk whose side of the file contains the finding's line, else the nearest."""
    line = finding.location.line
    best, distance = None, None
    for hunk in patch.hunks:
        if hunk.path != finding.location.path:
            continue
        numbers = [new if new_side else old for _text, old, new in hunk.lines]
        numbers = [n for n in numbers if n is not None]
        if not numbers:
            continue
        gap = 0 if numbers[0] <= line <= numbers[-1] else min(abs(line - n) for n in numbers)
        if distance is None or gap < distance:
            best, distance = hunk, gap
    return best
