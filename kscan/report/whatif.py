"""`kscan what-if` reports: a migration checklist in text, markdown, JSON or SARIF.

Sites come ranked (class, then subsystem, then the call-graph score of their function)
and are printed in that order, grouped by class and subsystem, each with its reason,
when it breaks and the fix idiom of its class.  The JSON follows the schema
"kscan-what-if/1" (documented in README.md); SARIF is the scan's, one rule per class.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from itertools import groupby
from typing import TYPE_CHECKING

from kscan.findings import Finding
from kscan.report.json_report import Json, tool_and_tree
from kscan.report.json_text import dumps

if TYPE_CHECKING:
    from kscan.results import RuleInfo, WhatIfResult

SCHEMA = "kscan-what-if/1"


def text(result: WhatIfResult) -> str:
    lines = [f"kscan what-if: {result.headline}", *_summary(result), ""]
    for info, sites in _by_class(result):
        lines.append(f"{info.id} {info.name}: {len(sites)} sites. {info.summary}")
        lines.append(f"  fix: {_prop(sites[0], 'fix')}")
        for subsystem, group in _by_subsystem(sites):
            lines.append(f"  {subsystem} ({len(group)})")
            for site in group:
                lines += _text_site(site)
        lines.append("")
    lines += _guard_lines(result)
    return "\n".join(lines).rstrip() + "\n"


def _text_site(site: Finding) -> list[str]:
    where = site.location
    function = f" {where.function}()" if where.function else ""
    out = [
        f"    [ ] {where.path}:{where.line}:{where.col}:{function}  "
        f"({_prop(site, 'when')}; score {_prop(site, 'score')})",
        f"        {site.message}",
    ]
    out += [f"        also {r.location.path}:{r.location.line}: {r.message}" for r in site.related]
    return out


def markdown(result: WhatIfResult) -> str:
    lines = [f"## kscan what-if: largest order {result.question['largest_order']}", ""]
    lines += [_escape(result.headline), ""]
    lines += [f"- {_escape(line.strip())}" for line in _summary(result)] + [""]
    for info, sites in _by_class(result):
        lines += [f"### {info.id} {info.name} ({len(sites)})", "", _escape(info.summary), ""]
        lines += [f"Fix: {_escape(_prop(sites[0], 'fix'))}", ""]
        for subsystem, group in _by_subsystem(sites):
            lines += [f"#### {subsystem} ({len(group)})", ""]
            for site in group:
                where = site.location
                function = f" `{where.function}()`" if where.function else ""
                lines.append(
                    f"- [ ] `{where.path}:{where.line}`{function}: {_escape(site.message)} "
                    f"({_escape(_prop(site, 'when'))}; score {_prop(site, 'score')})"
                )
            lines.append("")
    lines += [f"- {_escape(line.strip())}" for line in _guard_lines(result)[1:]]
    lines += ["", f"<sub>kscan {result.tool_version}, Linux {result.kernel_version}</sub>"]
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    for char in "\\`*_<[]":
        value = value.replace(char, "\\" + char)
    return value


def json_(result: WhatIfResult) -> str:
    return dumps(to_dict(result))


def to_dict(result: WhatIfResult) -> Json:
    return {
        "schema": SCHEMA,
        **tool_and_tree(result),
        "question": dict(result.question),
        "counts": result.counts(),
        "classes": [_class(info) for info in result.classes],
        "guards": [asdict(guard) for guard in result.guards],
        "sites": [_site(site) for site in result.sites],
        "stats": {**asdict(result.stats), "seconds": round(result.stats.seconds, 3)},
        "warnings": list(result.warnings),
    }


def _class(info: RuleInfo) -> Json:
    return {
        "id": info.id,
        "name": info.name,
        "severity": str(info.severity),
        "summary": info.summary,
    }


def _site(site: Finding) -> Json:
    where = site.location
    props = dict(site.properties)
    return {
        "class": site.rule_id,
        "class_name": site.rule_name,
        "subsystem": props["subsystem"],
        "path": where.path,
        "line": where.line,
        "col": where.col,
        "function": where.function,
        "reason": site.message,
        "when": props["when"],
        "fix": props["fix"],
        "severity": str(site.severity),
        "confidence": str(site.confidence),
        "score": float(props["score"]),
        "related": [
            {"path": r.location.path, "line": r.location.line, "message": r.message}
            for r in site.related
        ],
    }


def sarif(result: WhatIfResult) -> str:
    from kscan.report.sarif import to_log
    from kscan.results import ScanResult

    scan = ScanResult(
        findings=result.sites,
        rules=result.classes,
        tree_root=result.tree_root,
        kernel_version=result.kernel_version,
        semantics=result.semantics,
        semantics_source=result.semantics_source,
        stats=result.stats,
        warnings=result.warnings,
        tool_version=result.tool_version,
    )
    log = to_log(scan)
    log["runs"][0]["properties"]["whatIf"] = dict(result.question)
    return dumps(log)


# -- shared ---------------------------------------------------------------------------------


def _summary(result: WhatIfResult) -> list[str]:
    counts = result.counts()
    total = sum(counts.values())
    by_class = ", ".join(f"{info.id} {info.name} {counts[info.id]}" for info in result.classes)
    firing = [g for g in result.guards if g.fires]
    out = [f"{total} sites: {by_class}"]
    n = result.question["largest_order"]
    out.append(f"guards that fire at N = {n}: {len(firing)} of {len(result.guards)}")
    if not result.question["exceeds_section"]:
        out.append(
            "the largest block fits in a section: the section classes (WI1-WI4) list nothing"
        )
    s = result.stats
    out.append(f"{s.parsed} of {s.files} files parsed in {s.seconds:.1f} s")
    return out


def _guard_lines(result: WhatIfResult) -> list[str]:
    if not result.guards:
        return []
    lines = ["Guards evaluated:"]
    for guard in result.guards:
        state = {True: "FIRES", False: "holds", None: "unknown"}[guard.fires]
        lines.append(
            f"  {state:7} {guard.path}:{guard.line}: {guard.text}  (fires for {guard.fires_at})"
        )
    return lines


def _by_class(result: WhatIfResult) -> Iterator[tuple[RuleInfo, list[Finding]]]:
    infos = {info.id: info for info in result.classes}
    for class_id, group in groupby(result.sites, key=lambda s: s.rule_id):
        yield infos[class_id], list(group)


def _by_subsystem(sites: list[Finding]) -> Iterator[tuple[str, list[Finding]]]:
    for subsystem, group in groupby(sites, key=lambda s: _prop(s, "subsystem")):
        yield subsystem, list(group)


def _prop(site: Finding, name: str) -> str:
    return dict(site.properties)[name]
