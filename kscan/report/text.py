"""Human-readable report: what breaks, then what is unknown, grouped by file; what is
safe by contract or by design in one line (listed with `--all`); then a summary.

Each finding starts with a compiler-style "path:line:col:" so editors and
terminals can jump to it, and ends with the model's verdict and the chain of steps
from the walk to where its range comes from. Colour is plain ANSI SGR, added only
when asked for, so the uncoloured output is byte-for-byte stable for tests and pipes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from itertools import groupby
from typing import TYPE_CHECKING

from kscan.findings import Finding, Level

if TYPE_CHECKING:
    from kscan.results import ScanResult, Stats

Paint = Callable[[str, str], str]

BOLD = "1"
DIM = "2"
SEVERITY_SGR = {Level.HIGH: "1;31", Level.MEDIUM: "33", Level.LOW: "36"}
VERDICT_SGR = {"breaks": "31", "safe-by-design": "32", "safe-by-contract": "32"}
SAFE = ("safe-by-contract", "safe-by-design")
# Sections in the order a reviewer reads them; a finding the model did not judge is
# listed with the unknown ones.
SECTIONS = (("breaks", "Breaks"), ("unknown", "Unknown"), ("safe", "Safe by contract or by design"))


def render(result: ScanResult, *, color: bool, show_all: bool = False) -> str:
    paint = _painter(color)
    findings = sorted(result.findings, key=Finding.sort_key)
    sections = _sections(findings)
    lines = []
    for key, title in SECTIONS:
        if sections[key] and (key != "safe" or show_all):
            lines += [paint(f"{title} ({len(sections[key])})", BOLD), ""]
            lines += _finding_lines(sections[key], paint)
    if sections["safe"] and not show_all:
        lines += [_safe_line(sections["safe"]), ""]
    lines += [*_hotspot_lines(result, paint), *_summary_lines(result, findings)]
    return "\n".join(lines) + "\n"


def _sections(findings: list[Finding]) -> dict[str, list[Finding]]:
    sections: dict[str, list[Finding]] = {key: [] for key, _ in SECTIONS}
    for finding in findings:
        kind = finding.verdict.kind if finding.verdict else "unknown"
        sections["safe" if kind in SAFE else kind].append(finding)
    return sections


def _safe_line(safe: list[Finding]) -> str:
    kinds = Counter(f.verdict.kind for f in safe if f.verdict)
    counts = ", ".join(f"{kinds[k]} {k}" for k in SAFE if kinds[k])
    findings = _plural(len(safe), "finding")
    return f"{findings} safe by contract or by design ({counts}): --all lists them"


def _hotspot_lines(result: ScanResult, paint: Paint) -> Iterable[str]:
    if not result.hotspots:
        return
    yield (
        paint("Hotspots", BOLD)
        + " (where a fix matters most; `kscan hotspots` ranks the whole graph)"
    )
    for spot in result.hotspots:
        yield f"  {spot.score:7.2f}  {spot.function}()  {spot.path}:{spot.line}"
        if len(spot.chain) > 1:
            yield "           " + " -> ".join(spot.chain)
    yield ""


def _painter(color: bool) -> Paint:
    if not color:
        return lambda text, _sgr: text
    return lambda text, sgr: f"\x1b[{sgr}m{text}\x1b[0m"


def _finding_lines(findings: list[Finding], paint: Paint) -> Iterable[str]:
    for path, group in groupby(findings, key=lambda f: f.location.path):
        yield paint(path, BOLD)
        for finding in group:
            yield from _describe(finding, paint)
        yield ""


def _describe(finding: Finding, paint: Paint) -> Iterable[str]:
    loc = finding.location
    levels = paint(f"[{finding.severity}/{finding.confidence}]", SEVERITY_SGR[finding.severity])
    function = f"{loc.function}(): " if loc.function else ""
    yield (
        f"{loc.path}:{loc.line}:{loc.col}: {paint(finding.rule_id, BOLD)} {levels} "
        f"{function}{finding.message}"
    )
    if finding.source_line.strip():
        yield "    " + finding.source_line.strip()
    for related in finding.related:
        where = f"{related.location.path}:{related.location.line}"
        yield paint(f"  note: {where}: {related.message}", DIM)
    if finding.verdict:
        verdict = finding.verdict
        kind = paint(verdict.kind, VERDICT_SGR.get(verdict.kind, BOLD))
        yield f"  model: {kind} ({verdict.preset}): {verdict.reason}"
        for step in verdict.chain:
            yield paint(f"    {step.location.path}:{step.location.line}: {step.message}", DIM)


def _summary_lines(result: ScanResult, findings: list[Finding]) -> Iterable[str]:
    if findings:
        files = len({f.location.path for f in findings})
        yield f"{_plural(len(findings), 'finding')} in {_plural(files, 'file')}"
        yield from _rule_counts(findings)
        severities = Counter(f.severity for f in findings)
        by_severity = ", ".join(f"{level} {severities[level]}" for level in reversed(Level))
        yield f"  by severity: {by_severity}"
        verdicts = Counter(f.verdict.kind if f.verdict else "none" for f in findings)
        order = ("breaks", "unknown", *SAFE, "none")
        yield "  by verdict: " + ", ".join(f"{k} {verdicts[k]}" for k in order if verdicts[k])
        origins = Counter(f.verdict.origin for f in findings if f.verdict and f.verdict.origin)
        if origins:
            yield "  by origin: " + ", ".join(f"{o} {n}" for o, n in origins.most_common())
    else:
        yield "No findings."
    yield _scan_line(result.stats)
    if result.warnings:
        yield _plural(len(result.warnings), "warning") + " during the scan"
    if result.not_analysed:
        count = _plural(len(result.not_analysed), "file")
        yield f"Not analysed, so findings there are missing: {count}"
        yield from (f"  {f.path}: {f.reason}" for f in result.not_analysed)
    yield _tree_line(result)


def _rule_counts(findings: list[Finding]) -> Iterable[str]:
    names = {f.rule_id: f.rule_name for f in findings}
    counts = Counter(f.rule_id for f in findings)
    width = max(len(name) for name in names.values())
    for rule_id in sorted(counts):
        yield f"  {rule_id} {names[rule_id]:<{width}}  {counts[rule_id]}"


def _scan_line(stats: Stats) -> str:
    """What was scanned, never how long it took: the same report from a cold cache and a
    warm one (JSON keeps the seconds)."""
    extras = [_plural(stats.parse_error_files, "file") + " with parse errors"]
    if stats.recovered_regions:
        extras.append(_plural(stats.recovered_regions, "region") + " re-parsed")
    if stats.parsed < stats.files:
        extras.append(f"{stats.parsed} parsed, the rest cannot matter to the rules")
    if stats.skipped:
        extras.append(f"{stats.skipped} skipped")
    if stats.not_utf8:
        extras.append(f"{stats.not_utf8} not UTF-8")
    scanned = ", ".join(
        (
            _plural(stats.files, "file"),
            _plural(stats.functions, "function"),
            _plural(stats.loops, "loop"),
        )
    )
    return f"Scanned {scanned} ({'; '.join(extras)})"


def _tree_line(result: ScanResult) -> str:
    where = result.tree_root or "(no tree root)"
    semantics = result.semantics or "unknown"
    if result.semantics_source:
        semantics += f" (from {result.semantics_source})"
    return f"Tree: {where}, kernel {result.kernel_version}, MAX_ORDER semantics: {semantics}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
