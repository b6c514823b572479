"""The pipeline: discover -> parse -> facts -> rules -> call graph -> model -> report.

Each stage is its own module; this one only wires them and keeps the numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from kscan import __version__
from kscan.analysis.project import Project
from kscan.analysis.rule import Rule, rule_info
from kscan.callgraph.graph import CallGraph, graph_files, tree_sources
from kscan.callgraph.hotspots import Hotspot, rank
from kscan.discover.files import SourceFile, discover
from kscan.discover.prefilter import Needs, Prefilter
from kscan.discover.treeinfo import TreeInfo, find_root, read_tree_info
from kscan.facts.budget import DEFAULT_FILE_BUDGET, FileBudget
from kscan.facts.records import FileCalls, FileFacts
from kscan.facts.workers import (
    Parsed,
    Problem,
    calls_from_bytes,
    default_jobs,
    facts_from_bytes,
    from_file,
    parse_all,
    total_size,
)
from kscan.findings import Finding, shown
from kscan.model.judge import contexts, judge, per_architecture
from kscan.results import NotAnalysed, ScanResult, Stats, TreeFields
from kscan.rules import RULES
from kscan.vocab import CONTIG_APIS

if TYPE_CHECKING:
    from kscan.facts.cache import FactsCache

_Made = TypeVar("_Made", bound=Parsed)  # what a worker makes of one file
_Fact = TypeVar("_Fact", FileFacts, FileCalls)


@dataclass
class Options:
    paths: Sequence[str] = (".",)
    excludes: Sequence[str] = ()
    jobs: int = field(default_factory=default_jobs)
    kernel_version: str | None = None
    semantics: str | None = None
    select: Sequence[str] = ()  # rule ids; empty means all
    extra_validity_checks: Sequence[str] = ()
    graph_scope: str = "paths"  # "tree": also index callers of the contig APIs tree-wide
    model_preset: str | None = None  # judge under this geometry only (else judge.JUDGE_ORDER)
    layout: Path | None = None  # a memory layout file for the model
    cache: bool = True  # reuse per-file facts from the user's cache (kscan.facts.cache)
    prefilter: bool = True  # parse only files whose bytes can matter (kscan.discover.prefilter)
    file_budget: FileBudget = DEFAULT_FILE_BUDGET  # what one file may cost (kscan.facts.budget)


class Progress:
    """What the engine tells a progress display; the CLI supplies a rich one."""

    def start(self, total: int | None, what: str = "parsing") -> None:
        """A stage begins: `total` steps (None: not counted) of `what`."""

    def advance(self, n: int) -> None: ...


def tree_for(options: Options) -> TreeInfo:
    first = Path(options.paths[0]) if options.paths else Path(".")
    return read_tree_info(find_root(first), options.kernel_version, options.semantics)


def tree_fields(tree: TreeInfo) -> TreeFields:
    return {
        "tree_root": str(tree.root) if tree.root else None,
        "kernel_version": tree.version_text,
        "semantics": tree.semantics,
        "semantics_source": tree.semantics_source,
    }


def selected_rules(options: Options) -> list[Rule]:
    wanted = {s.upper() for s in options.select}
    return [r for r in RULES if not wanted or r.id in wanted or r.name.upper() in wanted]


@dataclass
class Scan:
    """A finished scan: the report's input, and the facts behind it for -v and graphs."""

    result: ScanResult
    project: Project
    sources: list[SourceFile]  # every file found in the paths, parsed or not

    def parse_notes(self) -> list[str]:
        """`kscan -v`: each file the parser had trouble with, and what the trouble was."""
        out = []
        for facts in self.project.files:
            if facts.has_errors or facts.recovered_regions or facts.not_utf8:
                notes = ["ERROR nodes"] if facts.has_errors else []
                if facts.recovered_regions:
                    notes.append(f"{facts.recovered_regions} runaway regions re-parsed")
                if facts.unrecovered_bodies:
                    notes.append(f"{facts.unrecovered_bodies} function bodies not recovered")
                if facts.not_utf8:
                    notes.append("not UTF-8, decoded leniently")
                out.append(f"{facts.path}: {', '.join(notes)}")
        return out


def scan(options: Options, progress: Progress | None = None) -> Scan:
    started = time.perf_counter()
    progress = progress or Progress()
    tree = tree_for(options)
    models = contexts(tree, options.model_preset, options.layout)
    files, warnings = discover(options.paths, tree.root, options.excludes)
    warnings = list(tree.notes) + warnings
    progress.start(len(files))
    kind = _SCAN_FACTS if options.prefilter else _EVERY_BODY_FACTS
    cache = _open_cache(warnings.append, kind) if options.cache else None
    prefilter = _prefilter() if options.prefilter else None
    budget = options.file_budget
    parsed = _parse(
        files,
        options.jobs,
        progress.advance,
        cache,
        facts_from_bytes,
        prefilter=prefilter,
        bodies=prefilter,
        budget=budget,
    )
    facts, problems = _collect(parsed)
    rules = selected_rules(options)
    project = Project(facts, tree, frozenset(options.extra_validity_checks))
    if prefilter is not None:
        problems += _follow(project, rules, files, options.jobs, cache, prefilter, budget, problems)
    if options.graph_scope == "tree" and tree.root is not None:
        graph, more = _tree_graph_files(tree.root, files, options.jobs, cache, prefilter, budget)
        project.add_graph_files(graph)
        problems += more
    warnings += [f"{p.path}: {p.reason}" for p in problems]
    findings = _run_rules(rules, project, warnings)
    per_arch = None if options.model_preset or options.layout else per_architecture(tree)
    findings = judge(_with_source_lines(findings, files), models, per_arch)
    stats = _stats(len(files), project.files, problems, time.perf_counter() - started)
    result = ScanResult(
        findings=sorted(findings, key=Finding.sort_key),
        rules=[rule_info(r) for r in rules],
        **tree_fields(tree),
        stats=stats,
        warnings=warnings,
        tool_version=__version__,
        not_analysed=[NotAnalysed(p.path, p.reason) for p in problems],
    )
    return Scan(result, project, files)


@dataclass
class Ranking:
    """`kscan hotspots` and `graph`: a scan, the call graph that ranked its findings,
    the top hotspots."""

    scan: Scan
    graph: CallGraph
    hotspots: list[Hotspot]


def rank_hotspots(options: Options, top: int, progress: Progress | None = None) -> Ranking:
    """A plain scan (its findings and cache entries are `kscan PATHS`'), its findings
    ranked over the call graph of every file in the paths."""
    progress = progress or Progress()
    done = scan(options, progress)
    graph = _call_graph(done, options, progress)
    progress.start(None, "ranking")
    scanned = {f.rel for f in done.sources}
    return Ranking(done, graph, rank(graph, done.result.findings, scanned, top))


def _call_graph(done: Scan, options: Options, progress: Progress) -> CallGraph:
    """The call graph of every file in the scanned paths (the rules' graph has the
    files the scan parsed), plus the files `--graph-scope tree` added.  Each file's
    part is cached as a kind of its own."""
    progress.start(len(done.sources), "reading calls")
    warn = done.result.warnings.append
    cache = _open_cache(warn, _CALL_FACTS) if options.cache else None
    parsed = _parse(done.sources, options.jobs, progress.advance, cache, calls_from_bytes)
    progress.start(None, "linking the call graph")
    graph = CallGraph(reread=_calls_reader(done.sources))
    return graph.add(_collect(parsed)[0]).add(done.project.graph_files)


def _calls_reader(files: list[SourceFile]) -> Callable[[str], FileCalls | None]:
    """rel -> the file's FileCalls, read again: for the few call sites an export names."""
    where = {f.rel: str(f.path) for f in files}

    def read(rel: str) -> FileCalls | None:
        calls = from_file(calls_from_bytes, where[rel], rel)
        return calls if isinstance(calls, FileCalls) else None

    return read


# The kinds of facts the cache keeps side by side (key suffixes), each what one way of
# reading a file makes of its content: a scan's first round, the every-body facts of
# --no-prefilter, each file's part of the call graph (FileCalls), a follow-up round's
# (+ the tag of its words), a file read whole as context (the bodies a scan would keep).
_SCAN_FACTS, _EVERY_BODY_FACTS, _CALL_FACTS = "", "+every-body", "+calls"
_FOLLOW_FACTS, _CONTEXT_FACTS = "+follow-", "+context"


def _open_cache(warn: Callable[[str], None], kind: str) -> FactsCache | None:
    from kscan.facts.cache import FactsCache  # and sqlite3: not for --no-cache

    return FactsCache.open(warn, kind)


def _prefilter() -> Prefilter:
    """Every registered rule's needs, not only the selected ones': the cache then means
    the same thing whatever --select says."""
    return Prefilter(need for rule in RULES for need in (rule.needs or (None,)))


_FOLLOW_ROUNDS = 4


def _follow(
    project: Project,
    rules: list[Rule],
    files: list[SourceFile],
    jobs: int,
    cache: FactsCache | None,
    bodies: Prefilter,
    budget: FileBudget,
    failed: list[Problem],
) -> list[Problem]:
    """Rounds of parsing the skipped files that the rules' context asks for (validity
    helpers, contig-API wrappers), until a round adds nothing; the files of the rounds
    that could not be analysed.  Files that `failed` already are not tried again (one
    over budget would take its budget again)."""
    asked: set[tuple[object, ...]] = set()
    problems: list[Problem] = []
    for _ in range(_FOLLOW_ROUNDS):
        wanted = _unasked([n for rule in rules if (n := rule.follow(project))], asked)
        parsed = {f.path for f in project.files} | {p.path for p in [*failed, *problems]}
        skipped = [f for f in files if f.rel not in parsed]
        if not wanted or not skipped:
            break
        needs = Prefilter(wanted, stems=())
        more, failing = _follow_round(skipped, needs, jobs, cache, bodies, budget)
        problems += failing
        if not more:
            break
        project.add_files(more)
    return problems


def _follow_round(
    skipped: list[SourceFile],
    prefilter: Prefilter,
    jobs: int,
    cache: FactsCache | None,
    bodies: Prefilter,
    budget: FileBudget,
) -> tuple[list[FileFacts], list[Problem]]:
    """The skipped files that meet `prefilter`, parsed as the first round would (`bodies`
    chooses the bodies), and those that could not be.  Cached as a kind of its own per
    word set: what the first round made of a file stays its entry, so the next scan's
    first round, whatever its paths or rules, is the one a cold scan makes."""
    answers = cache.of_kind(_FOLLOW_FACTS + prefilter.tag) if cache else None
    workers = partial(_follow_jobs, jobs=jobs)
    parsed = _parse(
        skipped,
        workers,
        lambda n: None,
        answers,
        facts_from_bytes,
        prefilter=prefilter,
        bodies=bodies,
        budget=budget,
    )
    return _collect(parsed)


# A follow-up round mostly reads and screens files (few match): up to this many bytes
# that costs less in this process than starting workers.
_FOLLOW_IN_PROCESS = 16 << 20


def _follow_jobs(files: list[SourceFile], jobs: int) -> int:
    return 1 if total_size(files, _FOLLOW_IN_PROCESS) <= _FOLLOW_IN_PROCESS else jobs


def _unasked(wanted: list[Needs], asked: set[tuple[object, ...]]) -> list[Needs]:
    """Each need narrowed to the first-group words no earlier round searched for: a file
    an earlier round passed over can only qualify now through a new word."""
    out = []
    for need in wanted:
        rest = (need.groups[1:], need.path_words)
        words = tuple(w for w in need.groups[0] if (w, rest) not in asked)
        asked.update((w, rest) for w in words)
        if words:
            out.append(replace(need, groups=(words, *need.groups[1:])))
    return out


def _parse(
    files: list[SourceFile],
    jobs: int | Callable[[list[SourceFile]], int],
    advance: Callable[[int], None],
    cache: FactsCache | None,
    from_bytes: Callable[..., _Made],
    **options: Any,
) -> Iterator[_Made | Problem]:
    """from_bytes(bytes, rel, **options) of each file in worker processes (`jobs`, or
    as many as jobs(the files to parse) says), through the cache when there is one.  For
    facts_from_bytes, `prefilter` picks the files and `bodies` the function bodies to
    parse (None: all)."""

    def workers(todo: list[SourceFile]) -> int:
        return jobs(todo) if callable(jobs) else jobs

    if cache is None:
        unit = partial(from_file, from_bytes, **options)
        return parse_all(files, workers(files), advance, unit=unit)

    keyed = partial(cache.unit, from_bytes, **options)

    def parse(missing: list[tuple[str, str]]) -> Iterator[tuple[str | None, Parsed]]:
        sources = [SourceFile(Path(path), rel) for path, rel in missing]
        return parse_all(sources, workers(sources), advance, unit=keyed)

    # a cache opened for this kind of facts holds what from_bytes made
    made = cache.parse_all([(str(f.path), f.rel) for f in files], parse, advance)
    return cast("Iterator[_Made | Problem]", made)


def _tree_graph_files(
    root: Path,
    scanned: list[SourceFile],
    jobs: int,
    cache: FactsCache | None,
    bodies: Prefilter | None,
    budget: FileBudget,
) -> tuple[list[FileFacts], list[Problem]]:
    """Facts of the files outside the scanned paths that call into the contig APIs, and
    those of them that could not be analysed.  Every such file is parsed, whatever the
    prefilter says of it: a kind of facts of its own, not the scan's."""
    candidates = tree_sources(root, {f.rel for f in scanned})
    problems: list[Problem] = []
    kind = _EVERY_BODY_FACTS if bodies is None else _CONTEXT_FACTS
    context = cache.of_kind(kind) if cache else None

    def parse(items: list[tuple[str, str]]) -> list[FileFacts]:
        sources = [SourceFile(Path(path), rel) for path, rel in items]
        parsed = _parse(
            sources, jobs, lambda n: None, context, facts_from_bytes, bodies=bodies, budget=budget
        )
        facts, failed = _collect(parsed)
        problems.extend(failed)
        return facts

    return graph_files(candidates, set(CONTIG_APIS), parse), problems


def _collect(results: Iterable[_Fact | Problem | None]) -> tuple[list[_Fact], list[Problem]]:
    """Facts and problems; None results (files the prefilter skipped) are dropped."""
    facts: list[_Fact] = []
    problems: list[Problem] = []
    for result in results:
        if isinstance(result, Problem):
            problems.append(result)
        elif result is not None:
            facts.append(result)
    return facts, problems


def _run_rules(rules: list[Rule], project: Project, warnings: list[str]) -> list[Finding]:
    findings: list[Finding] = []
    for rule in rules:
        try:
            findings.extend(rule.check(project))
        except Exception as err:  # a rule bug must not cost the user the other rules
            warnings.append(
                f"internal error in {rule.id} ({type(err).__name__}: {err}); "
                "its findings are missing — please report this"
            )
    return findings


def _with_source_lines(findings: list[Finding], files: list[SourceFile]) -> list[Finding]:
    by_rel = {f.rel: f.path for f in files}
    lines: dict[str, list[bytes]] = {}
    decoded: dict[tuple[str, int], str] = {}  # once a line, however many findings it holds
    out = []
    for finding in findings:
        path = finding.location.path
        if path not in lines:
            try:
                lines[path] = by_rel[path].read_bytes().split(b"\n")  # decoded line by line
            except (KeyError, OSError):
                lines[path] = []
        text, line = lines[path], finding.location.line
        if (path, line) not in decoded:
            raw = text[line - 1] if 0 < line <= len(text) else b""
            decoded[path, line] = raw.decode("utf-8", "replace").rstrip()
        out.append(replace(finding, source_line=shown(decoded[path, line], finding.location.col)))
    return out


def _stats(scanned: int, facts: list[FileFacts], problems: list[Problem], seconds: float) -> Stats:
    return Stats(
        files=scanned,
        parsed=len(facts),
        skipped=len(problems),
        not_utf8=sum(f.not_utf8 for f in facts),
        parse_error_files=sum(1 for f in facts if f.has_errors),
        recovered_regions=sum(f.recovered_regions for f in facts),
        functions=sum(len(f.functions) for f in facts),
        loops=sum(len(f.loops) for f in facts),
        seconds=seconds,
    )
