"""Machine-readable report in kscan's own versioned schema.

The schema lives next to this module as kscan-report.schema.json (JSON Schema
draft 2020-12) and documents every field. Bump SCHEMA when a field disappears
or changes meaning. New fields may appear within a version and consumers should
ignore fields they do not know; the shipped schema still forbids undocumented
fields, so that kscan's own tests catch a field added without documentation.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from kscan.findings import Finding, Location, Provenance, Related, Verdict
from kscan.report.json_text import dumps

if TYPE_CHECKING:
    from kscan.results import RuleInfo, ScanResult, WhatIfResult

SCHEMA = "kscan-report/1"
Json = dict[str, Any]  # a JSON object as json.dumps takes it


def render(result: ScanResult) -> str:
    return dumps(to_dict(result))


def to_dict(result: ScanResult) -> Json:
    return {
        "schema": SCHEMA,
        **tool_and_tree(result),
        "stats": {**asdict(result.stats), "seconds": round(result.stats.seconds, 3)},
        "hotspots": [
            {
                "function": h.function,
                "path": h.path,
                "line": h.line,
                "score": h.score,
                "chain": list(h.chain),
            }
            for h in result.hotspots
        ],
        "warnings": list(result.warnings),
        **_not_analysed(result),
        "rules": [_rule(rule) for rule in sorted(result.rules, key=lambda r: r.id)],
        "findings": [_finding(f) for f in sorted(result.findings, key=Finding.sort_key)],
    }


def tool_and_tree(result: ScanResult | WhatIfResult) -> Json:
    """The "tool" and "tree" members every kscan JSON report starts with."""
    return {
        "tool": {"name": "kscan", "version": result.tool_version},
        "tree": {
            "root": result.tree_root,
            "kernel_version": result.kernel_version,
            "max_order_semantics": result.semantics,
            "semantics_source": result.semantics_source,
        },
    }


def _not_analysed(result: ScanResult) -> Json:
    """The files whose findings are missing; no key at all when none are."""
    if not result.not_analysed:
        return {}
    return {"not_analysed": [{"path": f.path, "reason": f.reason} for f in result.not_analysed]}


def _rule(rule: RuleInfo) -> Json:
    return {
        "id": rule.id,
        "name": rule.name,
        "family": rule.family,
        "severity": str(rule.severity),
        "confidence": str(rule.confidence),
        "summary": rule.summary,
    }


def _finding(finding: Finding) -> Json:
    return {
        "rule_id": finding.rule_id,
        "rule_name": finding.rule_name,
        "family": finding.family,
        "severity": str(finding.severity),
        "confidence": str(finding.confidence),
        "message": finding.message,
        **_location(finding.location),
        "source_line": finding.source_line,
        "fingerprint": finding.fingerprint,
        "related": _steps(finding.related),
        "walk": asdict(finding.walk) if finding.walk else None,
        "verdict": _verdict(finding.verdict) if finding.verdict else None,
        "provenance": _provenance(finding.provenance) if finding.provenance else None,
        "properties": dict(finding.properties),
    }


def _steps(steps: tuple[Related, ...]) -> list[Json]:
    return [{**_location(step.location), "message": step.message} for step in steps]


def _verdict(verdict: Verdict) -> Json:
    return {
        "kind": verdict.kind,
        "preset": verdict.preset,
        "reason": verdict.reason,
        "origin": verdict.origin,
        "chain": _steps(verdict.chain),
    }


def _provenance(provenance: Provenance) -> Json:
    return {
        "routes": [
            {"origin": r.origin, "evidence": r.evidence, "chain": _steps(r.chain)}
            for r in provenance.routes
        ],
        "dropped": provenance.dropped,
    }


def _location(location: Location) -> Json:
    return {
        "path": location.path,
        "line": location.line,
        "col": location.col,
        "function": location.function,
    }
