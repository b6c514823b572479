"""The model stage: judge every finding's walk under concrete memory geometries.

Without a preset, a walk is judged under each geometry of JUDGE_ORDER, read from the
scanned tree's arch/ where it says them: the verdict is the first geometry where the
walk breaks (with its witness), else unknown where one cannot decide, else safe.  Code
under arch/<a>/ is judged under that architecture's presets instead (its page sizes:
arm64 4K, 16K and 64K; ppc64 64K and 4K); an architecture kscan has no preset for
keeps JUDGE_ORDER, but a walk there that would break on another platform's layout
is unknown.  `--model-preset` / `--layout` judge every file under that one
geometry.  Verdicts are cached per walk shape, so this costs microseconds per finding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache
from pathlib import Path

from kscan.discover.treeinfo import TreeInfo
from kscan.findings import Finding, OrderAsk, Verdict
from kscan.model.archtree import presets_from_tree
from kscan.model.context import ModelContext
from kscan.model.crosscheck import (
    BREAKS,
    SAFE,
    UNKNOWN,
    severity_for,
    verdict_for_order_use,
    verdict_for_walk,
)
from kscan.model.geometry import PRESETS, Geometry, preset
from kscan.model.layout import LayoutError
from kscan.model.origins import verdict_for_provenance

# Holes inside MAX_ORDER blocks first (arm64 NOMAP), then the common x86 layout, then
# classic SPARSEMEM, where struct pages are contiguous only inside a section.
JUDGE_ORDER = ("arm64-4k", "x86_64", "x86_64:sparsemem", "arm64-64k", "ppc64", "s390", "riscv")


class ModelError(Exception):
    """A bad --model-preset or --layout, as one line."""


def contexts(
    tree: TreeInfo, preset: str | None, layout: Path | None, arch: str | None = None
) -> list[ModelContext]:
    """The contexts to judge under: `preset` (with `layout`), else the presets of the
    architecture directory `arch`, else JUDGE_ORDER."""
    era = bool(tree.holes_in_zone_era)
    presets = _presets(tree)
    names = [preset] if preset else ["x86_64"] if layout else _arch_presets(arch, presets)
    try:
        found = [ModelContext.for_preset(n, holes_in_zone_era=era, presets=presets) for n in names]
        if layout is not None:
            found = [
                ModelContext.from_layout_file(layout, c.geometry, holes_in_zone_era=era)
                for c in found[:1]
            ]
    except LayoutError as err:
        raise ModelError(str(err)) from None
    except (ValueError, KeyError) as err:  # an unknown preset or memory model
        raise ModelError(str(err.args[0] if err.args else err)) from None
    except OSError as err:
        raise ModelError(f"cannot read layout {layout}: {err.strerror or err}") from None
    return found


def _presets(tree: TreeInfo) -> dict[str, Geometry]:
    """The tree's own arch/ wins; architectures it does not describe use the built-in
    table.  Read once per tree: every architecture's contexts ask."""
    if tree.root is None:
        return PRESETS
    return _TREE_PRESETS(tree.root, tree.semantics)


_TREE_PRESETS = cache(lambda root, semantics: {**PRESETS, **presets_from_tree(root, semantics)})


def _arch_presets(arch: str | None, presets: dict[str, Geometry]) -> list[str]:
    """JUDGE_ORDER, or the presets of arch/<arch>/ (none for one kscan does not model)."""
    if arch is None:
        return list(JUDGE_ORDER)
    names = [name for name in (*JUDGE_ORDER, *presets) if preset(name, presets).arch == arch]
    return list(dict.fromkeys(names))


def per_architecture(tree: TreeInfo) -> Callable[[str], list[ModelContext] | None]:
    """path -> the contexts of the architecture whose arch/<a>/ holds it (None for the
    rest of the tree; [] for an architecture without a preset), each built once."""
    built: dict[str, list[ModelContext]] = {}

    def contexts_for(path: str) -> list[ModelContext] | None:
        top, _, rest = path.partition("/")
        arch = rest.partition("/")[0] if top == "arch" and "/" in rest else None
        if arch is None:
            return None
        if arch not in built:
            built[arch] = contexts(tree, None, None, arch)
        return built[arch]

    return contexts_for


def judge(
    findings: list[Finding],
    models: list[ModelContext],
    per_arch: Callable[[str], list[ModelContext] | None] | None = None,
) -> list[Finding]:
    """Each finding judged under `models`, or where `per_arch` has contexts for its
    path, under those.  A walk in the code of an architecture without a preset is
    judged under `models` too, but no layout of theirs can say it breaks there."""
    out = []
    for finding in findings:
        if finding.verdict is not None:
            out.append(finding)
            continue
        own = per_arch(finding.location.path) if per_arch else None
        judged = _judged(finding, own or models)
        verdict = judged.verdict
        if own == [] and judged.walk is not None and verdict and verdict.kind == BREAKS:
            judged = _unmodelled(finding, verdict)
        out.append(judged)
    return out


def _unmodelled(finding: Finding, verdict: Verdict) -> Finding:
    arch = finding.location.path.split("/")[1]
    # the layout that broke it is another architecture's: say so before its reason
    reason = (
        f"kscan has no preset, so no memory layout, of arch/{arch} and cannot say the walk "
        f"breaks there; it breaks under another architecture's layout: {verdict.reason}"
    )
    unknown = replace(verdict, kind=UNKNOWN, reason=reason)
    return replace(finding, verdict=unknown, severity=severity_for(unknown, finding.severity))


def _judged(finding: Finding, models: list[ModelContext]) -> Finding:
    walk, provenance = finding.walk, finding.provenance
    if walk is not None and provenance is not None:
        where = finding.location.function or "the walk"
        verdicts = [verdict_for_provenance(walk, provenance, where, m) for m in models]
    elif walk is not None:
        verdicts = [verdict_for_walk(walk, m) for m in models]
    elif finding.order is not None:
        ask = finding.order
        verdicts = [verdict_for_order_use(ask.use, _asked_order(ask, m), m) for m in models]
    else:
        return finding
    verdict = _combined(verdicts)
    return replace(finding, verdict=verdict, severity=severity_for(verdict, finding.severity))


def _asked_order(ask: OrderAsk, model: ModelContext) -> int:
    """The concrete order `name + offset` names under the finding's MAX_ORDER meaning:
    one past the largest for NR_PAGE_ORDERS and for an exclusive MAX_ORDER."""
    largest = model.geometry.max_page_order
    past = ask.name == "NR_PAGE_ORDERS" or (
        ask.semantics == "exclusive" and ask.name in ("MAX_ORDER", "MAX_PAGE_ORDER")
    )
    return largest + int(past) + ask.offset


def _combined(verdicts: list[Verdict]) -> Verdict:
    """The first geometry where it breaks; else the first unknown; else safe by design
    on every one; else (every geometry agreeing) safe by contract."""
    for kind in (BREAKS, UNKNOWN):
        found = next((v for v in verdicts if v.kind == kind), None)
        if found:
            return found
    first = next((v for v in verdicts if v.kind == SAFE), verdicts[0])
    if len(verdicts) == 1 or first.kind != SAFE:
        return first
    return replace(first, preset="all presets")
