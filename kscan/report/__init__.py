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


def render(result: ScanResult, fmt: str, *, color: bool, show_all: bool = False) -> str:
    """The whole report as one string; color and show_all (list the findings that are
    safe by contract or by design, not only count them) only affect the text format:
    JSON and SARIF carry every finding."""
    if fmt not in _RENDERERS:
        raise ValueError(f"unknown format {fmt!r} ({', '.join(FORMATS)})")
    if fmt == "text":
        return _renderer(_RENDERERS[fmt])(result, color=color, show_all=show_all)
    return _renderer(_RENDERERS[fmt])(result)


def render_series(series: SeriesResult, fmt: str) -> str:
    """A `kscan series`/`kscan diff` report: what each patch adds and removes."""
    if fmt not in _SERIES_RENDERERS:
        raise ValueError(f"unknown format {fmt!r} ({', '.join(SERIES_FORMATS)})")
    return _renderer(_SERIES_RENDERERS[fmt])(series)


def _renderer(where: tuple[str, str]):
    module, function = where
    return getattr(import_module(f"kscan.report.{module}"), function)
