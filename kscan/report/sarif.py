"""SARIF 2.1.0 report, for GitHub code scanning and other SARIF viewers.

The log is built from plain dicts. We chose not to depend on sarif-om: it has
been unmaintained since 2020 and needs jsonpickle to serialise. The subset of
SARIF we emit is small, and tests/test_report.py validates it against the
official OASIS schema.

Columns: Location.col counts bytes, while SARIF's default column unit is UTF-16
code units. The two agree on ASCII lines, which kernel C practically always is,
so columns are passed through unconverted.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kscan.findings import Finding, Level, Location, Verdict
from kscan.report.json_text import dumps

if TYPE_CHECKING:
    from collections.abc import Callable

    from kscan.results import NotAnalysed, RuleInfo, ScanResult

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "SRCROOT"
Json = dict[str, Any]  # a JSON object as json.dumps takes it
FINGERPRINT_KEY = "kscanFingerprint/v2"  # v2: comments and spacing do not count
NOT_ANALYSED = "not-analysed"  # the descriptor of a notification about a file skipped

SARIF_LEVEL = {Level.HIGH: "error", Level.MEDIUM: "warning", Level.LOW: "note"}
# GitHub code scanning reads these two rule properties to rank and filter alerts.
PRECISION = {Level.HIGH: "high", Level.MEDIUM: "medium", Level.LOW: "low"}
PROBLEM_SEVERITY = {Level.HIGH: "error", Level.MEDIUM: "warning", Level.LOW: "recommendation"}

# SemVer 2.0 core with optional pre-release and build parts.
SEMVER = re.compile(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")


def render(result: ScanResult) -> str:
    return dumps(to_log(result))


def to_log(result: ScanResult, baseline_state: Callable[[Finding], str] | None = None) -> Json:
    """The SARIF log; baseline_state marks each result "new", "absent", ... for a diff."""
    rules = sorted(result.rules, key=lambda r: r.id)
    rule_index = {rule.id: index for index, rule in enumerate(rules)}
    findings = sorted(result.findings, key=Finding.sort_key)
    run: Json = {"tool": {"driver": _driver(result.tool_version, rules)}}
    if result.tree_root:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": _directory_uri(result.tree_root)}}
    run["invocations"] = [_invocation(result)]
    # A finding from a rule that did not run is a scanner bug; let the KeyError say so.
    run["results"] = [_result(f, rule_index[f.rule_id]) for f in findings]
    if baseline_state:
        for finding, sarif_result in zip(findings, run["results"], strict=True):
            sarif_result["baselineState"] = baseline_state(finding)
    run["properties"] = {
        "kernelVersion": result.kernel_version,
        "maxOrderSemantics": result.semantics,
        "semanticsSource": result.semantics_source,
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _driver(version: str, rules: list[RuleInfo]) -> Json:
    driver: Json = {"name": "kscan", "version": version}
    # Development builds carry PEP 440 versions ("0.2.0.dev3"), which are not SemVer.
    if SEMVER.fullmatch(version):
        driver["semanticVersion"] = version
    driver["rules"] = [_rule(rule) for rule in rules]
    return driver


def _rule(rule: RuleInfo) -> Json:
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": _first_paragraph(rule.doc) or rule.summary},
        "help": {"text": rule.doc or rule.summary},
        "defaultConfiguration": {"level": SARIF_LEVEL[rule.severity]},
        "properties": {
            "tags": [rule.family, "correctness"],
            "precision": PRECISION[rule.confidence],
            "problem.severity": PROBLEM_SEVERITY[rule.severity],
        },
    }


def _invocation(result: ScanResult) -> Json:
    """The scan's warnings as notifications; a file not analysed names the file, so a
    viewer can show that its findings are missing."""
    invocation: Json = {"executionSuccessful": True}
    files = {f"{f.path}: {f.reason}": f for f in result.not_analysed}
    notes = [_file_note(files[w]) if w in files else _note(w) for w in result.warnings]
    if notes:
        invocation["toolExecutionNotifications"] = notes
    return invocation


def _note(text: str) -> Json:
    return {"level": "warning", "message": {"text": text}}


def _file_note(file: NotAnalysed) -> Json:
    return {
        **_note(f"{file.path}: {file.reason}"),
        "descriptor": {"id": NOT_ANALYSED},
        "locations": [{"physicalLocation": {"artifactLocation": _artifact_location(file.path)}}],
    }


def _result(finding: Finding, rule_index: int) -> Json:
    result: Json = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": SARIF_LEVEL[finding.severity],
        "message": {"text": finding.message},
        "locations": [_location(finding.location, finding.source_line)],
    }
    if finding.related:
        # Ids keep two notes at the same place distinct (relatedLocations must be
        # unique) and let a message link to them as [text](id).
        result["relatedLocations"] = [
            {"id": number, **_location(related.location), "message": {"text": related.message}}
            for number, related in enumerate(finding.related, start=1)
        ]
    if finding.verdict and finding.verdict.chain:
        result["codeFlows"] = [_code_flow(finding.verdict)]
    result["partialFingerprints"] = {FINGERPRINT_KEY: finding.fingerprint}
    result["properties"] = _result_properties(finding)
    return result


def _code_flow(verdict: Verdict) -> Json:
    """The chain of the route the verdict judged: from the walk to where its range
    comes from (assignments, call sites, an ops-table registration)."""
    steps = [
        {"location": {**_location(step.location), "message": {"text": step.message}}}
        for step in verdict.chain
    ]
    return {
        "message": {"text": f"where the walked range comes from: {verdict.origin}"},
        "threadFlows": [{"locations": steps}],
    }


def _location(location: Location, source_line: str = "") -> Json:
    region: Json = {"startLine": location.line, "startColumn": location.col}
    if source_line:
        region["snippet"] = {"text": source_line}
    sarif_location: Json = {
        "physicalLocation": {
            "artifactLocation": _artifact_location(location.path),
            "region": region,
        }
    }
    if location.function:
        sarif_location["logicalLocations"] = [{"name": location.function, "kind": "function"}]
    return sarif_location


def _artifact_location(path: str) -> Json:
    uri, absolute = _uri(path)
    return {"uri": uri} if absolute else {"uri": uri, "uriBaseId": SRCROOT}


@functools.cache
def _uri(path: str) -> tuple[str, bool]:
    """A path's URI, and whether it is absolute.  Each finding names its path two or
    three times and a file has many findings: before this cache, PurePath and quote()
    took more than half of building the log of 40,000 findings (cProfile)."""
    pure = PurePath(path)
    if pure.is_absolute():
        return pure.as_uri(), True
    return quote(pure.as_posix()), False


def _directory_uri(root: str) -> str:
    # SARIF requires a base URI to end in a slash, or relative URIs resolve
    # against the root's parent.
    uri = Path(root).absolute().as_uri()
    return uri if uri.endswith("/") else uri + "/"


def _result_properties(finding: Finding) -> Json:
    properties: Json = {
        **dict(finding.properties),
        "confidence": str(finding.confidence),
        "family": finding.family,
    }
    if finding.walk:
        properties["walk"] = asdict(finding.walk)
    if finding.verdict:
        verdict = finding.verdict
        properties["verdict"] = {
            "kind": verdict.kind,
            "preset": verdict.preset,
            "reason": verdict.reason,
            "origin": verdict.origin,
        }
    if finding.provenance:
        properties["origins"] = sorted({route.origin for route in finding.provenance.routes})
    return properties


def _first_paragraph(doc: str) -> str:
    return doc.strip().split("\n\n", 1)[0].strip()
