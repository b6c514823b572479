"""Turn a finished scan into text, JSON or SARIF.

Reporters see a ScanResult only: findings plus plain metadata about the rules
that ran and the tree that was scanned. They never import rules or parse trees,
so a report can be rebuilt from saved findings alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING

from kscan.findings import Finding, Level

if TYPE_CHECKING:
    from kscan.review import SeriesResult

# format -> (module in kscan.report, function); a run imports only the one it writes
_RENDERERS = {
    "text": ("text", "render"),
    "json": ("json_report", "render"),
    "sarif": ("sarif", "render"),
}
_SERIES_RENDERERS = {
    "text": ("series_text", "render_text"),
    "email": ("email_report", "render"),
    "markdown": ("markdown_report", "render"),
    "sarif": ("series_text", "render_sarif"),
    "html": ("html_report", "render"),
}
FORMATS = tuple(_RENDERERS)
SERIES_FORMATS = tuple(_SERIES_RENDERERS)


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
    """A function where fixing an assumption matters most (see kscan/hotspots.py)."""

    function: str
    path: str
    line: int
    score: float
    chain: tuple[str, ...]  # entry point -> ... -> function -> ... -> worst finding


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


_WHAT_IF_RENDERERS = {f: ("whatif", f) for f in ("text", "markdown", "sarif")} | {
    "json": ("whatif", "json_")
}
WHAT_IF_FORMATS = ("text", "markdown", "json", "sarif")


def render(result: ScanResult, fmt: str, *, color: bool) -> str:
    """The whole report as one string; color only affects the text format."""
    if fmt not in _RENDERERS:
        raise ValueError(f"unknown format {fmt!r} ({', '.join(FORMATS)})")
    if fmt == "text":
        return _renderer(_RENDERERS[fmt])(result, color=color)
    return _renderer(_RENDERERS[fmt])(result)


def render_series(series: SeriesResult, fmt: str) -> str:
    """A `kscan series`/`kscan diff` report: what each patch adds and removes."""
    if fmt not in _SERIES_RENDERERS:
        raise ValueError(f"unknown format {fmt!r} ({', '.join(SERIES_FORMATS)})")
    return _renderer(_SERIES_RENDERERS[fmt])(series)


def render_what_if(result: WhatIfResult, fmt: str) -> str:
    if fmt not in WHAT_IF_FORMATS:
        raise ValueError(f"unknown format {fmt!r} ({', '.join(WHAT_IF_FORMATS)})")
    return _renderer(_WHAT_IF_RENDERERS[fmt])(result)


def _renderer(where: tuple[str, str]):
    module, function = where
    return getattr(import_module(f"kscan.report.{module}"), function)
