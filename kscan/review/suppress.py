"""Findings the user has already looked at: inline comments and a baseline file.

Inline: `/* kscan: ignore KS001 -- reason */` (or `// ...`, several ids separated
by commas) on the finding's line or on the line right above it.  A comment there that
means to and does not (another rule's id, an id no rule has, a misspelt keyword) is
named in a warning, since the finding it was meant for is still reported.

Baseline: a JSON file listing the fingerprints of the findings a tree already had,
so a team adopting kscan sees only new ones.  Fingerprints survive line shifts,
comments and reformatting; a baseline is a multiset, so a second copy of a baselined
walk is still reported.  Version 1 baselines (fingerprints that a trailing comment
changed) are still matched the way they were written, with a note to rewrite them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING

from kscan import atomic
from kscan.findings import Finding, subtract
from kscan.patterns import compiled
from kscan.reading import read_text

if TYPE_CHECKING:
    from kscan.results import ScanResult
    from kscan.review.config import Config

BASELINE_VERSION = 2
_IGNORE = re.compile(r"kscan:\s*ignore\s+(KS\d+(?:\s*,\s*KS\d+)*)", re.IGNORECASE)
# Patterns compiled() compiles on first use: only a finding with a comment near it
# needs them.
_COMMENT = r"/\*.*?(?:\*/|$)|//.*"
# A suppression as it may be mistyped: a word like "kscan", one like "ignore", what follows.
_LOOKALIKE = r"(?i)\b([a-z]{3,7})\s*:?\s*([a-z]{4,8})\b\s*([\w-]*)"
_RULE_ID = r"(?i)KS\d+$"


class BaselineError(Exception):
    """A baseline file that cannot be read or written (one line)."""


_COMMENT_LINE = re.compile(r"\s*(?:/\*|//|\*)")  # a line that starts as a comment


def ignored_ids(line: str) -> set[str]:
    """The rule ids a `kscan: ignore` comment on this line names."""
    match = _IGNORE.search(line)
    return {i.strip().upper() for i in match.group(1).split(",")} if match else set()


def drop_inline(findings: Iterable[Finding], root: Path | None) -> tuple[list[Finding], list[str]]:
    """Findings not silenced by a comment on their line or the line above, and a warning
    for each comment there that meant to silence one and does not."""
    files: dict[str, list[str]] = {}
    # what each line's comments say, read once a line: a minified file's one long line
    # holds thousands of findings
    said: dict[tuple[str, int], set[str]] = {}
    misread: dict[tuple[str, int, str], str | None] = {}
    kept, warnings = [], []
    for finding in findings:
        path = finding.location.path
        if path not in files:
            try:
                text = (Path(root or ".") / path).read_bytes().decode("utf-8", "replace")
            except OSError:
                text = ""
            files[path] = text.splitlines()
        lines, line = files[path], finding.location.line
        first = max(line - 1, 1)  # the line above, if there is one
        nearby = lines[first - 1 : line]
        for number, text in enumerate(nearby, start=first):
            if (path, number) not in said:
                said[path, number] = ignored_ids(text)
        if any(finding.rule_id in said[path, first + i] for i in range(len(nearby))):
            continue
        kept.append(finding)
        for number, text in enumerate(nearby, start=first):
            if number < line and not _COMMENT_LINE.match(text):
                continue  # a comment after code above speaks of that code
            key = (path, number, finding.rule_id)
            if key not in misread:
                misread[key] = misread_suppression(text, finding.rule_id)
            problem = misread[key]
            if problem:
                warnings.append(
                    f"{path}:{number}: {problem}; the {finding.rule_id} finding on line "
                    f"{line} is still reported"
                )
    return kept, warnings


def misread_suppression(line: str, rule_id: str) -> str | None:
    """What is wrong with a comment on `line` that means to silence a `rule_id` finding
    and does not, or None when the line has no such comment."""
    comments = compiled(_COMMENT).findall(line)
    if not comments:
        return None
    from kscan.rules import RULES  # only when a finding has a comment near it

    ids = {rule.id for rule in RULES}
    names = {rule.name: rule.id for rule in RULES}
    for comment in comments:
        quoted = "'" + " ".join(comment.strip("/* ").split()) + "'"
        named = _IGNORE.search(comment)
        if named:
            given = [i.strip().upper() for i in named.group(1).split(",")]
            unknown = [i for i in given if i not in ids]
            if unknown:
                nearest = _nearest(unknown[0], sorted(ids), rule_id)
                return f"{quoted} names {unknown[0]}, which is no rule (nearest: {nearest})"
            return f"{quoted} names {', '.join(given)}, not {rule_id}"
        for keyword, verb, what in compiled(_LOOKALIKE).findall(comment):
            keyword, verb = keyword.lower(), verb.lower()
            named_rule = compiled(_RULE_ID).match(what) or what in names
            if _like(verb, "ignore") and (
                keyword == "kscan" or _like(keyword, "kscan") and named_rule
            ):
                nearest = names.get(what) or _nearest(what.upper(), sorted(ids), rule_id)
                return f"{quoted} is not read as a suppression: write 'kscan: ignore {nearest}'"
    return None


def _like(word: str, meant: str) -> bool:
    return _similarity(word, meant) >= 0.8


def _nearest(given: str, ids: Sequence[str], rule_id: str) -> str:
    """The id most like `given`; on a tie, or when none is alike, the finding's own."""
    best = max(ids, key=lambda i: (_similarity(given, i), i == rule_id))
    return best if _similarity(given, best) > max(_similarity(given, rule_id), 0.6) else rule_id


def _similarity(a: str, b: str) -> float:
    from difflib import SequenceMatcher

    return SequenceMatcher(None, a, b).ratio()


def _fingerprint_v1(finding: Finding) -> str:
    """A version 1 baseline's fingerprint: the source line as it was, comments and all."""
    import hashlib

    text = " ".join(finding.source_line.split())
    key = "\0".join((finding.rule_id, finding.location.path, finding.location.function or "", text))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Baseline:
    path: Path
    version: int
    fingerprints: list[str]  # repeated as often as they were found

    def new(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings this baseline does not hold."""
        if self.version == 1:
            return subtract(findings, self.fingerprints, _fingerprint_v1)
        return subtract(findings, self.fingerprints)

    def unmatched(self, findings: Iterable[Finding]) -> int:
        """How many of its fingerprints no finding matches any more (fixed, or changed
        beyond recognition)."""
        key = _fingerprint_v1 if self.version == 1 else attrgetter("fingerprint")
        return (Counter(self.fingerprints) - Counter(map(key, findings))).total()

    @property
    def notes(self) -> list[str]:
        if self.version == BASELINE_VERSION:
            return []
        return [
            f"{self.path} is a version {self.version} baseline: a comment added to a "
            "finding's line makes it new again; rewrite it with --write-baseline"
        ]


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


def read_baseline(path: Path) -> Baseline:
    """The fingerprints in a baseline file (this version's or version 1's)."""
    import json

    try:
        data = json.loads(read_text(path))
    except OSError as err:
        raise BaselineError(f"cannot read baseline {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise BaselineError(f"baseline {path} is not JSON: {err}") from None
    version = data.get("kscan-baseline") if isinstance(data, dict) else None
    if version not in (1, BASELINE_VERSION):
        raise BaselineError(f"{path} is not a kscan baseline (version {BASELINE_VERSION})")
    try:
        return Baseline(path, version, [str(entry["fingerprint"]) for entry in data["findings"]])
    except (KeyError, TypeError):
        raise BaselineError(f"baseline {path}: every finding needs a fingerprint") from None


def settle(result: ScanResult, config: Config) -> ScanResult:
    """Findings the source does not silence, with the config's severities."""
    root = Path(result.tree_root) if result.tree_root else None
    kept, warnings = drop_inline(result.findings, root)
    findings = config.with_severities(kept)
    rules = [
        replace(r, severity=config.severity[r.id]) if r.id in config.severity else r
        for r in result.rules
    ]
    return replace(result, findings=findings, rules=rules, warnings=result.warnings + warnings)
