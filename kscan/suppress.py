"""Findings the user has already looked at: inline comments and a baseline file.

Inline: `/* kscan: ignore KS001 -- reason */` (or `// ...`, several ids separated
by commas) on the finding's line or on the line right above it.

Baseline: a JSON file listing the fingerprints of the findings a tree already had,
so a team adopting kscan sees only new ones.  Fingerprints survive line shifts; a
baseline is a multiset, so a second copy of a baselined walk is still reported.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from kscan import atomic
from kscan.findings import Finding

if TYPE_CHECKING:
    from kscan.config import Config
    from kscan.report import ScanResult

BASELINE_VERSION = 1
_IGNORE = re.compile(r"kscan:\s*ignore\s+(KS\d+(?:\s*,\s*KS\d+)*)", re.IGNORECASE)


class BaselineError(Exception):
    """A baseline file that cannot be read or written (one line)."""


def ignored_ids(line: str) -> set[str]:
    """The rule ids a `kscan: ignore` comment on this line names."""
    match = _IGNORE.search(line)
    return {i.strip().upper() for i in match.group(1).split(",")} if match else set()


def drop_inline(findings: Iterable[Finding], root: Path | None) -> list[Finding]:
    """Findings not silenced by a comment on their line or the line above."""
    files: dict[str, list[str]] = {}
    kept = []
    for finding in findings:
        path = finding.location.path
        if path not in files:
            try:
                text = (Path(root or ".") / path).read_bytes().decode("utf-8", "replace")
            except OSError:
                text = ""
            files[path] = text.splitlines()
        lines, line = files[path], finding.location.line
        nearby = lines[max(line - 2, 0) : line]
        if not any(finding.rule_id in ignored_ids(text) for text in nearby):
            kept.append(finding)
    return kept


def subtract(findings: Iterable[Finding], known: Iterable[Finding | str]) -> list[Finding]:
    """Findings minus `known` (findings or fingerprints), as multisets of fingerprints."""
    left = Counter(k if isinstance(k, str) else k.fingerprint for k in known)
    out = []
    for finding in findings:
        if left[finding.fingerprint]:
            left[finding.fingerprint] -= 1
        else:
            out.append(finding)
    return out


def unmatched(known: Iterable[str], findings: Iterable[Finding]) -> int:
    """How many of a baseline's fingerprints no finding matches any more (fixed, or
    changed beyond recognition)."""
    return (Counter(known) - Counter(f.fingerprint for f in findings)).total()


def write_baseline(path: Path, findings: Iterable[Finding]) -> None:
    entries = [
        {
            "fingerprint": f.fingerprint,
            "rule": f.rule_id,
            "path": f.location.path,
            "function": f.location.function,
            "line": f.location.line,  # for people reading the file; matching ignores it
        }
        for f in sorted(findings, key=Finding.sort_key)
    ]
    import json  # here and below: only baselines need it, a plain scan does not load it

    text = json.dumps({"kscan-baseline": BASELINE_VERSION, "findings": entries}, indent=2)
    try:
        atomic.write_text(path, text + "\n")
    except OSError as err:
        raise BaselineError(f"cannot write baseline {path}: {err.strerror or err}") from None


def read_baseline(path: Path) -> list[str]:
    """The fingerprints in a baseline file, repeated as often as they were found."""
    import json

    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise BaselineError(f"cannot read baseline {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise BaselineError(f"baseline {path} is not JSON: {err}") from None
    if not isinstance(data, dict) or data.get("kscan-baseline") != BASELINE_VERSION:
        raise BaselineError(f"{path} is not a kscan baseline (version {BASELINE_VERSION})")
    try:
        return [str(entry["fingerprint"]) for entry in data["findings"]]
    except (KeyError, TypeError):
        raise BaselineError(f"baseline {path}: every finding needs a fingerprint") from None


def settle(result: ScanResult, config: Config) -> ScanResult:
    """Findings the source does not silence, with the config's severities."""
    root = Path(result.tree_root) if result.tree_root else None
    findings = config.with_severities(drop_inline(result.findings, root))
    rules = [
        replace(r, severity=config.severity[r.id]) if r.id in config.severity else r
        for r in result.rules
    ]
    return replace(result, findings=findings, rules=rules)
