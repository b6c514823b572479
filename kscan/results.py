"""What a scan, a series review and a what-if run produce: the reporters' whole input.

Plain data, low in the import graph: the engine and the review fill these in, the
reporters read them, and neither side imports the other.  Rules appear here only as
RuleInfo, so a report can be rebuilt from saved findings alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

from kscan.findings import FailOn, Finding, Level, shown


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a reporter needs to know about a rule, without importing it."""

    id: str  # "KS001"
    name: str  # "pfn-walk-unchecked"
    family: str  # "pfn-walk" | "page-walk" | "max-order" | "contig"
    severity: Level
    confidence: Level
    summary: str  # one line
    doc: str  # full help text: what / why / example / fix


class TreeFields(TypedDict):
    """What a scan's and a what-if's result say of the tree they read."""

    tree_root: str | None
    kernel_version: str  # "6.12.117" or "unknown"
    semantics: str | None  # "exclusive" | "inclusive" | "inclusive-renamed"
    semantics_source: str


@dataclass(slots=True)
class Stats:
    files: int = 0  # files scanned
    parsed: int = 0  # of those, parsed (the others cannot matter to any rule)
    skipped: int = 0  # binary/unreadable files skipped
    not_utf8: int = 0  # decoded leniently
    parse_error_files: int = 0  # files with ERROR nodes
    recovered_regions: int = 0  # runaway error regions re-parsed
    functions: int = 0
    loops: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class HotspotRow:
    """A function where fixing an assumption matters most (see kscan/callgraph/hotspots.py)."""

    function: str
    path: str
    line: int
    score: float
    chain: tuple[str, ...]  # entry point -> ... -> function -> ... -> worst finding


@dataclass(frozen=True, slots=True)
class NotAnalysed:
    """A file the scan could not analyse (unreadable, binary, too large, over its
    budget, or one the extractor failed on): its findings are missing."""

    path: str
    reason: str


@dataclass(slots=True)
class ScanResult:
    findings: list[Finding]
    rules: list[RuleInfo]  # the rules that ran
    tree_root: str | None
    kernel_version: str  # "6.12.117" or "unknown"
    semantics: str | None  # "exclusive" | "inclusive" | "inclusive-renamed"
    semantics_source: str
    stats: Stats
    warnings: list[str]  # one-line warnings already shown/collected
    tool_version: str
    hotspots: list[HotspotRow] = field(default_factory=list)  # over the parsed files
    # files not analysed: they are among the warnings too, as "path: reason"
    not_analysed: list[NotAnalysed] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class GuardCheck:
    """A guard on the largest order as `kscan what-if` evaluated it."""

    path: str
    line: int
    text: str
    fires_at: str  # the largest orders it fires at ("N >= 16"), or "cannot evaluate"
    fires: bool | None  # at the order asked about; None when it cannot be evaluated


@dataclass(slots=True)
class WhatIfResult:
    """`kscan what-if`: the question, the sites (Findings of the what-if classes, ranked:
    class, subsystem, call-graph score) and every guard evaluated."""

    question: dict[str, object]  # the order, the architecture, sizes (see kscan/whatif)
    headline: str
    sites: list[Finding]
    classes: list[RuleInfo]
    guards: list[GuardCheck]
    tree_root: str | None
    kernel_version: str
    semantics: str | None
    semantics_source: str
    stats: Stats
    warnings: list[str]
    tool_version: str

    def counts(self) -> dict[str, int]:
        """Sites per class id, every class listed."""
        out = {info.id: 0 for info in self.classes}
        for site in self.sites:
            out[site.rule_id] += 1
        return out


# What became of a patch.  The first three were judged.
APPLIED = "applied"
OFFSET = "applied at an offset"
FUZZ = "applied with fuzz"
NO_C_CHANGE = "no C change"
ALREADY_APPLIED = "already applied"
FAILED = "does not apply"
UNREADABLE = "cannot be read"
NOT_TRIED = "not tried"
JUDGED = (APPLIED, OFFSET, FUZZ)
NOT_JUDGED = (FAILED, UNREADABLE, NOT_TRIED)  # the series could not be judged whole

HunkLine = tuple[str, int | None, int | None]  # (line with +/-/space, old, new)


@dataclass(frozen=True, slots=True)
class Hunk:
    """One hunk of a patch, reduced to what reporters quote."""

    path: str  # the file after the patch (before, for a deletion)
    header: str  # "@@ -10,6 +10,9 @@ static void foo(void)"
    lines: tuple[HunkLine, ...]
    source: str = ""  # the file before the patch: `path` unless renamed, "" if new
    # side ("+" new, "-" old) -> line number -> index in `lines`, built on first use
    _positions: dict[str, dict[int, int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def position(self, line: int, new_side: bool) -> int:
        """The index in `lines` of the hunk line that is line `line` of the file after
        the patch (or before it), -1 if none: found once per hunk, not once per finding
        (a new file's one hunk can hold thousands)."""
        side = "+" if new_side else "-"
        where = self._positions.get(side)
        if where is None:
            where = self._positions[side] = {}
            for index, (text, old, new) in enumerate(self.lines):
                number = new if new_side else old
                if number is not None and text[:1] in (side, " "):
                    where.setdefault(number, index)
        return where.get(line, -1)


@dataclass(frozen=True, slots=True)
class Mail:
    """The headers of the message a patch came in, for a reply to it."""

    message_id: str
    references: tuple[str, ...]  # its References and In-Reply-To, oldest first
    sender: str
    to: str
    cc: str
    date: str
    number: tuple[int, int] | None  # (x, N) of "[PATCH x/N]"


@dataclass(frozen=True, slots=True)
class Patch:
    name: str  # the file it came from, with the message number for an mbox
    subject: str  # "[PATCH 1/2] mm: ..." or the file name for a plain diff
    diff: str
    hunks: tuple[Hunk, ...]
    paths: tuple[str, ...]  # every path it touches, old and new names, sorted
    binary: tuple[str, ...] = ()  # of those, the binary files: never applied nor scanned
    mail: Mail | None = None  # None for a plain diff or a commit
    unreadable: str = ""  # why its message could not be read as a patch

    @property
    def sources(self) -> list[str]:
        """The C files it changes."""
        return [p for p in self.paths if p.endswith((".c", ".h")) and p not in self.binary]


@dataclass(frozen=True, slots=True)
class Change:
    """A finding that a patch introduces or removes, with the hunk that explains it."""

    finding: Finding
    hunk: Hunk | None  # as it landed, covering the finding's line, else the nearest
    introduced: bool  # else removed: the finding's line is in the pre-image

    def quote(self, limit: int = 8) -> tuple[str, ...]:
        """The hunk header and up to `limit` hunk lines ending at the finding's line
        (the hunk's first lines if the finding lies outside it)."""
        if self.hunk is None:
            return ()
        end = self.position + 1 or limit
        first = max(end - limit, 0)
        lines = self.hunk.lines[first:end]
        return (
            self.hunk.header,
            *(self.shown(text, first + i) for i, (text, _, _) in enumerate(lines)),
        )

    def shown(self, text: str, index: int) -> str:
        """Hunk line `index` as a quote shows it (findings.shown): the finding's own
        around its column (one on, for the +, - or space before the line)."""
        return shown(text, self.finding.location.col + 1 if index == self.position else 1)

    @property
    def in_hunk(self) -> bool:
        return self.position >= 0

    @property
    def position(self) -> int:
        """The index of the finding's line among the hunk's lines, -1 outside it."""
        if self.hunk is None:
            return -1
        return self.hunk.position(self.finding.location.line, self.introduced)


@dataclass(frozen=True, slots=True)
class PatchResult:
    patch: Patch
    introduced: tuple[Change, ...]
    removed: tuple[Change, ...]
    status: str = APPLIED
    notes: tuple[str, ...] = ()  # where hunks landed, or why they did not
    moved: int = 0  # findings that moved with their code to another file
    preset: str | None = None  # the geometry its findings were judged under, if one
    # Files it touches that a scan before or after it could not analyse (over
    # --file-budget, too large, too deeply nested ...): what it does to the findings
    # there is unknown, so they are neither introduced nor removed.
    not_analysed: tuple[NotAnalysed, ...] = ()

    @property
    def judged(self) -> bool:
        return self.status in JUDGED

    @property
    def newsworthy(self) -> bool:
        """Whether its reviewer hears of it: it changes findings, or leaves some unknown."""
        return bool(self.introduced or self.removed or self.not_analysed)


@dataclass
class SeriesResult:
    patches: list[PatchResult]
    meta: ScanResult  # the tree, the rules that ran and kscan's version; no findings
    seconds: float = 0.0
    hotspots: list[HotspotRow] = field(default_factory=list)  # of the introduced findings

    @property
    def unjudged(self) -> list[PatchResult]:
        """The patches that could not be judged: the series' verdict is not whole."""
        return [p for p in self.patches if p.status in NOT_JUDGED]

    @property
    def introduced(self) -> list[Change]:
        return [change for p in self.patches for change in p.introduced]

    @property
    def not_analysed(self) -> list[NotAnalysed]:
        """Every patch's files not analysed, each reason naming its patch."""
        return [
            NotAnalysed(file.path, f"{file.reason} ({p.patch.name})")
            for p in self.patches
            for file in p.not_analysed
        ]

    @property
    def removed(self) -> list[Change]:
        return [change for p in self.patches for change in p.removed]

    def failed(self, threshold: FailOn) -> bool:
        return any(threshold.counts(c.finding) for c in self.introduced)


@dataclass(frozen=True, slots=True)
class Reply:
    """Who replies, for the email format: the From of the replies and a closing line."""

    sender: str | None = None  # "Name <addr>"; without it, the sending tool's own
    signoff: str | None = None  # "Thanks, Jane", above the signature
