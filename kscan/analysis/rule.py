"""The Rule base class: identity, documentation and the helper that makes findings.

A rule is one module under rules/; its module docstring is its documentation (what,
why, example, fix) and `kscan explain ID` prints it.  Rules read facts through the
Project and yield Findings; they never see tree-sitter.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterable

from kscan.analysis.project import Project
from kscan.discover.prefilter import Needs
from kscan.facts.records import FileFacts
from kscan.findings import Finding, Level, Location, OrderAsk, Provenance, Related, Walk
from kscan.results import RuleInfo


class Rule:
    id: str = ""
    name: str = ""
    family: str = ""
    severity: Level = Level.MEDIUM
    confidence: Level = Level.MEDIUM
    # What a file must contain for this rule to report in it or to inform it (see
    # kscan/discover/prefilter.py); None: any file may matter, so nothing is skipped for it.
    needs: tuple[Needs, ...] | None = None

    def check(self, project: Project) -> Iterable[Finding]:
        raise NotImplementedError

    def follow(self, project: Project) -> Needs | None:
        """After a round of parsing: more files that may matter (context found so far)."""
        return None

    @property
    def doc(self) -> str:
        return inspect.cleandoc(sys.modules[type(self).__module__].__doc__ or "")

    @property
    def summary(self) -> str:
        return self.doc.splitlines()[0] if self.doc else self.name

    def finding(
        self,
        facts: FileFacts,
        line: int,
        col: int,
        function: str | None,
        message: str,
        *,
        severity: Level | None = None,
        confidence: Level | None = None,
        walk: Walk | None = None,
        order: OrderAsk | None = None,
        related: tuple[Related, ...] = (),
        properties: tuple[tuple[str, str], ...] = (),
        provenance: Provenance | None = None,
    ) -> Finding:
        return Finding(
            rule_id=self.id,
            rule_name=self.name,
            family=self.family,
            severity=severity or self.severity,
            confidence=confidence or self.confidence,
            message=message,
            location=Location(facts.path, line, col, function),
            related=related,
            walk=walk,
            order=order,
            properties=properties,
            provenance=provenance,
        )

    def related(
        self, facts: FileFacts, line: int, message: str, function: str | None = None
    ) -> Related:
        return Related(Location(facts.path, line, 1, function), message)


def rule_info(rule: Rule) -> RuleInfo:
    """Plain metadata for reporters, which never import rules."""
    return RuleInfo(
        rule.id, rule.name, rule.family, rule.severity, rule.confidence, rule.summary, rule.doc
    )


# `kscan rules`: one row per rule
CATALOG_COLUMNS = ("id", "name", "family", "severity", "confidence", "summary")


def catalog_row(rule: Rule) -> tuple[str, ...]:
    return (rule.id, rule.name, rule.family, str(rule.severity), str(rule.confidence), rule.summary)


def explanation(rule: Rule) -> str:
    """`kscan explain`: what the rule is, then its documentation."""
    return (
        f"{rule.id} {rule.name}  [family {rule.family}, severity {rule.severity}, "
        f"confidence {rule.confidence}]\n\n{rule.doc}"
    )
