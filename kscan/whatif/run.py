"""The what-if pipeline: discover -> prefilter -> parse -> classes -> call graph rank.

It is the scan's pipeline with other readers: the classes' `needs` pick the files, every
body of a picked file is parsed (the order flow follows call arguments through bodies
that name no MAX_ORDER), and the extractor records what the classes ask for (Watch).
The files that walk a block take it as `1 << order` themselves, so the page-walk
class's needs find them without following callees.  No facts cache: the facts differ
from a scan's, and a cold whole tree takes seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from kscan import __version__
from kscan.analysis.project import Project
from kscan.analysis.rule import rule_info
from kscan.discover.files import SourceFile, discover
from kscan.discover.prefilter import Prefilter
from kscan.discover.treeinfo import TreeInfo, find_root, read_tree_info
from kscan.engine import Progress, tree_fields
from kscan.facts.extract import Watch
from kscan.facts.records import FileFacts
from kscan.facts.workers import Problem, facts_for, parse_all
from kscan.findings import Finding
from kscan.model.judge import contexts
from kscan.results import Stats, WhatIfResult
from kscan.whatif import classes
from kscan.whatif.analysis import Context
from kscan.whatif.pageblock import PAGEBLOCK_NAMES, SECTION_NAMES
from kscan.whatif.target import Target

WATCH = Watch(tuple(sorted(PAGEBLOCK_NAMES | SECTION_NAMES)))
# What screens the classes' needs (kscan/discover/prefilter.py): one search each over every file.
STEMS = (b"ORDER", b"pageblock", b"buddy")


class WhatIfError(Exception):
    """Bad input for a what-if (not in a tree, an era kscan cannot tell), as one line."""


def what_if(
    paths: list[str] | None,
    order: int,
    arch: str,
    jobs: int,
    excludes: tuple[str, ...] = (),
    progress: Progress | None = None,
) -> WhatIfResult:
    """The what-if of `paths` (default: the whole tree) with `order` as the largest
    buddy order, on the `arch` preset as the tree configures it."""
    root = find_root(Path(paths[0]) if paths else Path("."))
    if root is None:
        where = paths[0] if paths else "the current directory"
        raise WhatIfError(
            f"{where} is not in a kernel tree (Makefile, mm/, include/linux/mmzone.h)"
        )
    tree = read_tree_info(root)
    if tree.semantics is None:
        raise WhatIfError(f"{root}: cannot tell what MAX_ORDER means in this tree")
    today = contexts(tree, arch, None)[0].geometry
    target = Target(order, today, tree.semantics)
    return run(paths or [str(root)], target, tree, jobs, excludes, progress)


def run(
    paths: list[str],
    target: Target,
    tree: TreeInfo,
    jobs: int,
    excludes: tuple[str, ...] = (),
    progress: Progress | None = None,
) -> WhatIfResult:
    started = time.perf_counter()
    progress = progress or Progress()
    files, warnings = discover(paths, tree.root, excludes)
    warnings = list(tree.notes) + warnings
    progress.start(len(files))
    context = Context(target)
    analyses = [cls(context) for cls in classes.CLASSES]
    prefilter = Prefilter((n for a in analyses for n in a.needs), stems=STEMS)
    facts, problems = _parse(files, jobs, prefilter, progress.advance)
    project = Project(facts, tree)
    warnings += [f"{p.path}: {p.reason}" for p in problems]
    sites: list[Finding] = []
    for analysis in sorted(analyses, key=lambda a: classes.PRECEDENCE.index(type(a))):
        try:
            sites.extend(analysis.check(project))
        except Exception as err:  # a class bug must not cost the user the others
            warnings.append(
                f"internal error in {analysis.id} ({type(err).__name__}: {err}); "
                "its sites are missing — please report this"
            )
    sites = _ranked(project, sites)
    stats = Stats(
        files=len(files),
        parsed=len(project.files),
        skipped=len(problems),
        functions=sum(len(f.functions) for f in project.files),
        loops=sum(len(f.loops) for f in project.files),
        seconds=time.perf_counter() - started,
    )
    return WhatIfResult(
        question=target.question(),
        headline=target.headline,
        sites=sites,
        classes=[rule_info(a) for a in sorted(analyses, key=lambda a: a.id)],
        guards=context.guards,
        **tree_fields(tree),
        stats=stats,
        warnings=warnings,
        tool_version=__version__,
    )


def _parse(
    files: list[SourceFile], jobs: int, prefilter: Prefilter, advance: Callable[[int], None]
) -> tuple[list[FileFacts], list[Problem]]:
    unit = partial(facts_for, prefilter=prefilter, bodies=None, watch=WATCH)
    facts: list[FileFacts] = []
    problems: list[Problem] = []
    for result in parse_all(files, jobs, advance, unit=unit):
        if isinstance(result, Problem):
            problems.append(result)
        elif result is not None:
            facts.append(result)
    return facts, problems


def _ranked(project: Project, sites: list[Finding]) -> list[Finding]:
    """Each site with its function's hotspot score (kscan/callgraph/hotspots.py, over the parsed
    files) as the property "score"; sorted by class, then by subsystem (the best score
    first), then by score, then by place."""
    from kscan.callgraph.hotspots import rank

    with_function = [s for s in sites if s.location.function]
    scanned = {f.path for f in project.files}
    spots = rank(project.callgraph, with_function, scanned, top=len(with_function) or 1)
    by_node = {spot.node: spot.score for spot in spots}
    graph = project.callgraph
    scored = []
    for site in sites:
        where = site.location
        score = (
            by_node.get(graph.resolve(where.path, where.function), 0.0) if where.function else 0.0
        )
        scored.append(replace(site, properties=(*site.properties, ("score", f"{score:g}"))))
    best: dict[tuple[str, str], float] = {}
    for site in scored:
        key = (site.rule_id, _prop(site, "subsystem"))
        best[key] = max(best.get(key, 0.0), float(_prop(site, "score")))
    return sorted(
        scored,
        key=lambda s: (
            s.rule_id,
            -best[(s.rule_id, _prop(s, "subsystem"))],
            _prop(s, "subsystem"),
            -float(_prop(s, "score")),
            s.location.path,
            s.location.line,
        ),
    )


def _prop(site: Finding, name: str) -> str:
    return dict(site.properties)[name]
