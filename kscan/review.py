"""Judge a patch series against a kernel tree: series + engine + config, for the CLI."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from kscan import __version__
from kscan.config import Config
from kscan.engine import Options, scan, selected_rules, tree_for
from kscan.findings import FailOn, Finding
from kscan.hotspots import report_rows
from kscan.judge import ModelError, contexts
from kscan.project import Project
from kscan.report import HotspotRow, ScanResult, Stats
from kscan.rule import rule_info
from kscan.series import Change, Patch, PatchResult, SeriesError, run_series
from kscan.suppress import settle


@dataclass
class SeriesResult:
    patches: list[PatchResult]
    meta: ScanResult  # the tree, the rules that ran and kscan's version; no findings
    seconds: float = 0.0
    hotspots: list[HotspotRow] = field(default_factory=list)  # of the introduced findings

    @property
    def introduced(self) -> list[Change]:
        return [change for p in self.patches for change in p.introduced]

    @property
    def removed(self) -> list[Change]:
        return [change for p in self.patches for change in p.removed]

    def failed(self, threshold: FailOn) -> bool:
        return any(threshold.counts(c.finding) for c in self.introduced)


def review(
    tree: Path,
    patches: Sequence[Patch],
    options: Options,
    config: Config,
    base: str | None = None,
    preset: str | None = None,
) -> SeriesResult:
    """Apply `patches` to a copy of `tree` (at `base`, default HEAD); the engine's model
    stage judges each finding under `preset` (else the config's, else every preset)."""
    started = time.perf_counter()
    options = replace(options, model_preset=preset or config.preset)
    info = tree_for(replace(options, paths=[str(tree)]))
    try:
        contexts(info, options.model_preset, None)  # a bad preset fails before any copying
    except ModelError as err:
        raise SeriesError(str(err)) from None

    scans: list[tuple[set[str], Project]] = []  # each scan's fingerprints and facts

    def scanner(root: Path, paths: list[str]):
        done = scan(replace(options, paths=[str(root / p) for p in paths]))
        findings = settle(done.result, config).findings
        scans.append(({f.fingerprint for f in findings}, done.project))
        return findings

    patch_results = run_series(tree, patches, scanner, base)
    meta = settle(
        ScanResult(
            findings=[],
            rules=[rule_info(r) for r in selected_rules(options)],
            tree_root=str(tree),
            kernel_version=info.version_text,
            semantics=info.semantics,
            semantics_source=info.semantics_source,
            stats=Stats(),
            warnings=list(info.notes),
            tool_version=__version__,
        ),
        config,
    )
    introduced = [c.finding for p in patch_results for c in p.introduced]
    return SeriesResult(
        patch_results, meta, time.perf_counter() - started, _hotspots(introduced, scans)
    )


def _hotspots(introduced: list[Finding], scans) -> list[HotspotRow]:
    """Hotspots of the new findings, each ranked in the scan (files, facts) it came from."""
    rows: dict[str, HotspotRow] = {}
    for fingerprints, project in scans:
        mine = [f for f in introduced if f.fingerprint in fingerprints]
        for row in report_rows(project, mine):
            rows.setdefault(row.function, row)
    return sorted(rows.values(), key=lambda r: -r.score)[:5]
