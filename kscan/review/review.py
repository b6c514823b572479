"""Judge a patch series against a kernel tree: series + engine + config, for the CLI."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from kscan import __version__
from kscan.analysis.project import Project
from kscan.analysis.rule import rule_info
from kscan.callgraph.hotspots import report_rows
from kscan.engine import Options, scan, selected_rules, tree_for
from kscan.findings import Finding
from kscan.model.geometry import PRESETS
from kscan.model.judge import ModelError, contexts
from kscan.results import HotspotRow, Patch, PatchResult, ScanResult, SeriesResult, Stats
from kscan.review.config import Config
from kscan.review.mail import load
from kscan.review.series import Scanned, SeriesError, commit_range, run_series
from kscan.review.suppress import settle


def review(
    tree: Path,
    patches: Sequence[Patch],
    options: Options,
    config: Config,
    base: str | None = None,
    preset: str | None = None,
    stop_on_fail: bool = False,
) -> SeriesResult:
    """Apply `patches` to a copy of `tree` (at `base`, default HEAD); the engine's model
    stage judges each patch's findings under `preset`, else the preset of the one
    architecture it touches, else the config's, else each file as a scan does (arch/<a>/
    under that architecture's presets, the rest under every preset)."""
    started = time.perf_counter()
    info = tree_for(replace(options, paths=[str(tree)]))
    try:
        contexts(info, preset or config.preset, None)  # a bad preset fails before copying
    except ModelError as err:
        raise SeriesError(str(err)) from None

    scans: list[tuple[set[str], Project]] = []  # each scan's fingerprints and facts

    def scanner(root: Path, paths: list[str], patch: Patch) -> Scanned:
        geometry = preset or arch_preset(patch)[0] or config.preset
        done = scan(replace(options, paths=[str(root / p) for p in paths], model_preset=geometry))
        findings = settle(done.result, config).findings
        scans.append(({f.fingerprint for f in findings}, done.project))
        return Scanned(findings, done.result.not_analysed)

    patch_results = [
        _with_preset(result, preset, config.preset)
        for result in run_series(tree, patches, scanner, base, stop_on_fail)
    ]
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


def review_patches(
    tree: Path,
    sources: Sequence[str],
    options: Options,
    config: Config,
    preset: str | None,
    stop_on_fail: bool,
    note: Callable[[str], None],
) -> SeriesResult:
    """`kscan series`: patches from mail (mbox, .eml, maildir, stdin), format-patch
    files or plain diffs, applied on `tree`; `note` hears of each message passed over."""
    loaded = load(sources)
    for text in loaded.notes:
        note(text)
    return review(tree, loaded.patches, options, config, None, preset, stop_on_fail)


def review_range(
    tree: Path, spec: str, options: Options, config: Config, preset: str | None
) -> SeriesResult:
    """`kscan diff`: the commits of `spec` ("A..B", or "A" for A..HEAD) in a git tree."""
    base, patches = commit_range(tree, spec)
    return review(tree, patches, options, config, base, preset)


# An architecture's directory -> its first preset (arm64 -> arm64-4k).
_ARCH_PRESETS = {g.arch: name for name, g in reversed(PRESETS.items())}
_ARCH_DIR = re.compile(r"arch/[^/]+/")


def arch_preset(patch: Patch) -> tuple[str | None, str]:
    """The geometry preset of the one architecture whose arch/ files `patch` touches,
    and a note when that cannot be had."""
    arches = sorted({path.split("/")[1] for path in patch.paths if _ARCH_DIR.match(path)})
    if not arches:
        return None, ""
    if len(arches) > 1:
        return None, f"it touches {', '.join(f'arch/{a}/' for a in arches)}: no single geometry"
    if arches[0] not in _ARCH_PRESETS:
        return None, f"no geometry preset for arch/{arches[0]}/"
    return _ARCH_PRESETS[arches[0]], ""


def _with_preset(result: PatchResult, flag: str | None, configured: str | None) -> PatchResult:
    """The result with the preset its findings were judged under, and why not its
    architecture's when that could not be had."""
    if not result.judged:
        return result
    found, note = arch_preset(result.patch)
    chosen = flag or found or configured
    notes = result.notes
    if note and not flag:
        under = f"judged under {configured}" if configured else "judged under every preset"
        notes = (*notes, f"{note}; {under}")
    return replace(result, preset=chosen, notes=notes)


def _hotspots(introduced: list[Finding], scans: list[tuple[set[str], Project]]) -> list[HotspotRow]:
    """Hotspots of the new findings, each ranked in the scan (files, facts) it came from."""
    rows: dict[str, HotspotRow] = {}
    for fingerprints, project in scans:
        mine = [f for f in introduced if f.fingerprint in fingerprints]
        for row in report_rows(project, mine):
            rows.setdefault(row.function, row)
    return sorted(rows.values(), key=lambda r: -r.score)[:5]
