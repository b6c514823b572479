"""Judge a patch series against a kernel tree: series + engine + config, for the CLI."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from kscan import __version__
from kscan.config import Config
from kscan.engine import Options, scan, selected_rules, tree_for
from kscan.findings import Level
from kscan.judge import ModelError, contexts
from kscan.report import ScanResult, Stats
from kscan.rule import rule_info
from kscan.series import Change, Patch, PatchResult, SeriesError, run_series
from kscan.suppress import settle


@dataclass
class SeriesResult:
    patches: list[PatchResult]
    meta: ScanResult  # the tree, the rules that ran and kscan's version; no findings
    seconds: float = 0.0

    @property
    def introduced(self) -> list[Change]:
        return [change for p in self.patches for change in p.introduced]

    @property
    def removed(self) -> list[Change]:
        return [change for p in self.patches for change in p.removed]

    def failed(self, threshold: Level) -> bool:
        return any(c.finding.severity >= threshold for c in self.introduced)


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

    def scanner(root: Path, paths: list[str]):
        result = scan(replace(options, paths=[str(root / p) for p in paths])).result
        return settle(result, config).findings

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
    return SeriesResult(patch_results, meta, time.perf_counter() - started)
