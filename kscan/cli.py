"""Command line: `kscan PATH...` scans; `kscan rules`, `kscan explain ID` describe rules
(and the what-if classes); `kscan what-if` lists what a larger buddy block breaks.

Exit status: 0 when no finding counts, 1 when one does (--fail-on), 2 bad usage or
input, 3 (with --strict) a file could not be analysed.  Errors are one line on stderr,
never a traceback.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from kscan import __version__
from kscan.analysis.rule import CATALOG_COLUMNS, catalog_row, explanation
from kscan.callgraph import hotspots
from kscan.discover.files import DiscoverError
from kscan.discover.treeinfo import SEMANTICS, TreeInfoError, find_root, read_tree_info
from kscan.engine import Options, Progress, Ranking, Scan, rank_hotspots, scan
from kscan.facts.budget import DEFAULT_FILE_BUDGET, FileBudget, parse_file_budget
from kscan.facts.workers import default_jobs
from kscan.findings import FailOn, Finding
from kscan.model.geometry import PRESETS
from kscan.model.judge import JUDGE_ORDER, ModelError, contexts
from kscan.report import FORMATS, SERIES_FORMATS, render, render_series
from kscan.results import Reply
from kscan.review import config
from kscan.review.config import Config, ConfigError
from kscan.review.suppress import (
    Baseline,
    BaselineError,
    read_baseline,
    settle,
    write_baseline,
)
from kscan.rules import RULES, rule_by_id

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    rich_markup_mode=None,
    help="Find memory-layout assumptions (holes, MAX_ORDER, contig ranges) in Linux mm code.",
)
if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from kscan.results import SeriesResult


@cache
def stderr() -> Console:
    """rich is imported when there is something to say: a clean scan never needs it.
    soft_wrap: an error or warning stays one line however narrow the terminal (or pipe)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout() -> Console:
    """rich for tables on stdout: as wide as the terminal, or piped, as wide as the
    rows are (rich's 80 columns cut names short with an ellipsis)."""
    from rich.console import Console

    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else _UNBOUNDED)


_UNBOUNDED = 1 << 16  # columns: wider than any row kscan prints


def table(*headers: str, **options: Any) -> Table:
    """A rich table for stdout() whose cells fold on a narrow terminal: a path or a
    name cut short with an ellipsis is lost."""
    from rich.table import Column, Table

    return Table(*(Column(h, overflow="fold") for h in headers), box=None, **options)


EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_INCOMPLETE = 3  # --strict: a file was not analysed (unreadable, binary, over budget...)
PRESET_HELP = (
    "Judge findings under this geometry only, e.g. arm64-4k, x86_64:sparsemem.  Default: "
    f"under each of {', '.join(JUDGE_ORDER)} in turn; a finding names the first where "
    "its walk breaks."
)
MODEL_PRESET_HELP = PRESET_HELP + "  With --layout: x86_64."
MODEL_PRESETS = (*PRESETS, "x86_64:sparsemem")
LAYOUT_HELP = "Memory layout to judge against: dmesg e820 lines, /proc/iomem, memmap=, .toml/.json."
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Neither read nor write the per-file facts cache.")
]


class Interrupted(Exception):
    """Ctrl-C in a command that cleaned up after itself: main() says what it did."""


FAIL_ON_HELP = (
    "Exit 1 on a finding that counts: breaks (the default: a `breaks` verdict), unknown "
    "(breaks or unknown), any, or a severity: low, medium, high."
)
FailOnOpt = Annotated[str | None, typer.Option(help=FAIL_ON_HELP)]


def fail(message: str) -> typer.Exit:
    stderr().print(f"kscan: error: {message}", markup=False, highlight=False)
    return typer.Exit(EXIT_USAGE)


SCAN_HELP = "Scan PATHs (default: the current directory) and report findings."
FILE_BUDGET_HELP = (
    "What one file may take to parse and read facts from: CPU time and/or memory, like 30s, "
    "2min, 512MB, 2GB, 30s,1GB; none for no limit.  A file over it is reported as not "
    "analysed and the scan goes on."
)
FileBudgetOpt = Annotated[str, typer.Option("--file-budget", help=FILE_BUDGET_HELP)]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Exit 3 when a file could not be analysed (unreadable, binary, too large, "
        "over --file-budget): the findings there are missing.",
    ),
]
FORMAT_HELP = f"{', '.join(FORMATS[:-1])} or {FORMATS[-1]}."  # "text, json or sarif."


@app.command("scan", help=SCAN_HELP)
def scan_command(
    paths: Annotated[list[str] | None, typer.Argument(help="Files, directories or globs.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)] = "text",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here.")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="fnmatch pattern; repeatable.")
    ] = None,
    select: Annotated[
        list[str] | None, typer.Option("--select", help="Only these rule ids.")
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")
    ] = default_jobs(),
    kernel_version: Annotated[
        str | None, typer.Option(help="Kernel version when no tree root is found.")
    ] = None,
    max_order_semantics: Annotated[
        str | None,
        typer.Option(help=f"Override the tree's MAX_ORDER meaning: {', '.join(SEMANTICS)}."),
    ] = None,
    validity_check: Annotated[
        list[str] | None,
        typer.Option("--validity-check", help="Extra function that validates a PFN."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List parse problems too.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or warnings.")
    ] = False,
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Report only findings not in this file.")
    ] = None,
    new_baseline: Annotated[
        Path | None,
        typer.Option(
            "--write-baseline",
            help="Save the findings as a baseline (no report).  With --baseline (the same "
            "file or another): say how many are new since it and how many of it are gone.",
        ),
    ] = None,
    graph_scope: Annotated[str, typer.Option(help=GRAPH_SCOPE_HELP)] = "paths",
    model_preset: Annotated[
        str | None,
        typer.Option("--model-preset", "--preset", help=MODEL_PRESET_HELP),
    ] = None,
    layout: Annotated[Path | None, typer.Option("--layout", help=LAYOUT_HELP)] = None,
    no_cache: NoCacheOpt = False,
    no_prefilter: Annotated[
        bool,
        typer.Option(
            "--no-prefilter", help="Parse every file and function body, even those no rule can use."
        ),
    ] = False,
    fail_on: FailOnOpt = None,
    show_all: Annotated[
        bool,
        typer.Option("--all", help="Also list the findings safe by contract or by design (text)."),
    ] = False,
    file_budget: FileBudgetOpt = str(DEFAULT_FILE_BUDGET),
    strict: StrictOpt = False,
) -> None:
    if fmt not in FORMATS:
        raise fail(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    _check_rules(select)
    budget = _file_budget(file_budget)
    paths = paths or ["."]
    settings = _load_config(_root_of(Path(paths[0])))
    threshold = _fail_on(fail_on, settings)
    options = Options(
        paths=paths,
        excludes=exclude or settings.exclude,
        jobs=jobs,
        kernel_version=kernel_version,
        semantics=max_order_semantics,
        select=settings.rules(select),
        extra_validity_checks=validity_check or settings.validity_checks,
        graph_scope=_graph_scope(graph_scope),
        model_preset=model_preset or settings.preset,
        layout=layout,
        cache=not no_cache,
        prefilter=not no_prefilter,
        file_budget=budget,
    )
    done = _run_scan(options, show_progress=not quiet and sys.stderr.isatty())
    _outlive(done)
    done.result = settle(done.result, settings)
    _baselines(done, baseline, new_baseline, quiet)
    if not quiet:
        if fmt == "text":
            _note_config(settings)
        _print_warnings(done, verbose)
    if fmt != "sarif":
        from kscan.callgraph.hotspots import report_rows  # after suppressions and the baseline

        done.result.hotspots = report_rows(done.project, done.result.findings)
    _write_report(done, fmt, output, show_all)
    if strict and done.result.not_analysed:
        raise typer.Exit(EXIT_INCOMPLETE)  # the report is incomplete, findings or not
    failed = any(threshold.counts(f) for f in done.result.findings)
    raise typer.Exit(EXIT_FINDINGS if failed else EXIT_CLEAN)


def _file_budget(text: str) -> FileBudget:
    try:
        return parse_file_budget(text)
    except ValueError as err:
        raise fail(str(err)) from None


def _baselines(done: Scan, baseline: Path | None, new_baseline: Path | None, quiet: bool) -> None:
    """--baseline hides the findings it knows; --write-baseline saves them all and ends
    the command (no report)."""
    findings = done.result.findings
    try:
        known = read_baseline(baseline) if baseline else None  # before the same file is written
        if new_baseline:
            write_baseline(new_baseline, findings)
            if not quiet:
                _note_baseline_written(new_baseline, findings, baseline, known)
            raise typer.Exit(EXIT_CLEAN)
    except BaselineError as err:
        raise fail(str(err)) from None
    if known is not None:
        done.result.findings = known.new(findings)
        done.result.warnings += known.notes
        if not quiet:
            _note_baseline_applied(baseline, known, findings, done.result.findings)


def _note_baseline_written(
    path: Path, findings: list[Finding], old: Path | None, known: Baseline | None
) -> None:
    note = f"kscan: wrote {_count(len(findings), 'finding')} to {path}"
    if known is not None:  # what the report against the old baseline would have said
        new, gone = len(known.new(findings)), known.unmatched(findings)
        note += f" ({old} had {len(known.fingerprints)}: {new} new, {gone} gone)"
    stderr().print(note, markup=False)


def _note_baseline_applied(
    path: Path | None, known: Baseline, findings: list[Finding], new: list[Finding]
) -> None:
    note = f"kscan: note: {path} hid {_count(len(findings) - len(new), 'known finding')}"
    if gone := known.unmatched(findings):
        note += f"; {gone} of its entries matched nothing in this scan"
    stderr().print(note, markup=False)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_kept: list[object] = []
_T = TypeVar("_T")


def _outlive(done: Scan | Ranking) -> None:
    """Let the last scan outlive its command: `kscan` ends the process right after
    (__main__.py), so freeing its facts object by object would be wasted: 2% CPU of
    `kscan mm/` cold (bench/bench.py --variant, medians of 21, 61 and 61 paired runs
    on a busy machine: 4.2%, 2.2%, 1.6%)."""
    _kept[:] = [done]


def _run_scan(options: Options, show_progress: bool) -> Scan:
    return _with_progress(lambda progress: scan(options, progress), show_progress)


def _with_progress(work: Callable[[Progress], _T], show: bool) -> _T:
    """work(progress), on a live bar when `show`; bad input is a one-line error."""
    try:
        if not show:
            return work(Progress())
        with _RichProgress() as progress:
            return work(progress)
    except (DiscoverError, TreeInfoError, ModelError) as err:
        raise fail(str(err)) from None


class _RichProgress(Progress):
    """The engine's Progress on a rich bar (terminal only; the CLI checks)."""

    def __enter__(self) -> _RichProgress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=stderr(),
            transient=True,
        )
        self.bar.__enter__()
        self.task = self.bar.add_task("parsing", total=None)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def start(self, total: int | None, what: str = "parsing") -> None:
        """A task per stage: its own count and time (None: an indeterminate bar)."""
        self.bar.remove_task(self.task)
        self.task = self.bar.add_task(what, total=total)

    def advance(self, n: int) -> None:
        self.bar.advance(self.task, n)


def _print_warnings(done: Scan, verbose: bool) -> None:
    _print_warning_lines(done.result.warnings)
    if not verbose:
        return
    for note in done.parse_notes():
        stderr().print(f"kscan: parse: {note}", markup=False)


def _print_warning_lines(warnings: list[str]) -> None:
    for warning in warnings:
        stderr().print(f"kscan: warning: {warning}", markup=False, highlight=False)


def _write_report(done: Scan, fmt: str, output: Path | None, show_all: bool) -> None:
    color = output is None and fmt == "text" and sys.stdout.isatty()
    _write(render(done.result, fmt, color=color, show_all=show_all), output)


def _write(text: str, output: Path | None) -> None:
    if text and not text.endswith("\n"):  # an empty mbox (no replies) stays empty
        text += "\n"
    if output is None:
        sys.stdout.write(text)
        return
    from kscan import atomic

    try:
        atomic.write_text(output, text)
    except OSError as err:
        raise fail(f"cannot write {output}: {err.strerror or err}") from None


def _table(
    columns: tuple[str, ...],
    rows: Sequence[tuple[str, ...]],
    title: str | None = None,
    caption: str | None = None,
) -> Table:
    shown = table(*columns, title=title, caption=caption)
    for row in rows:
        shown.add_row(*row)
    return shown


def _print_table(columns: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    stdout().print(_table(columns, rows))


def _print_lines(out: Console, lines: list[str]) -> None:
    for line in lines:
        out.print(line, markup=False)


def _fail_on(option: str | None, settings: Config) -> FailOn:
    try:
        return FailOn.parse(option) if option else settings.fail_on or FailOn()
    except ValueError as err:
        raise fail(f"--fail-on: {err}") from None


def _check_rules(select: list[str] | None) -> None:
    for rule_id in select or ():
        if rule_by_id(rule_id) is None:
            raise fail(f"unknown rule {rule_id!r} (see `kscan rules`)")


def _root_of(path: Path) -> Path | None:
    try:
        return find_root(path)
    except TreeInfoError as err:
        raise fail(str(err)) from None


def _load_config(root: Path | None) -> Config:
    try:
        return config.load(root)
    except ConfigError as err:
        raise fail(str(err)) from None


def _note_config(settings: Config) -> None:
    """Say that a .kscan.toml shaped the report, and what it set (after the work: an
    error stays the only line)."""
    if settings.path is not None:
        given = ", ".join(settings.settings()) or "nothing"
        stderr().print(f"kscan: note: {settings.path} sets {given}", markup=False)


# Options shared by `kscan series` and `kscan diff`.
TreeOpt = Annotated[Path, typer.Option("--tree", "-t", help="The kernel tree (default: .).")]
ReviewFormatOpt = Annotated[
    str, typer.Option("--format", "-f", help=f"{', '.join(SERIES_FORMATS)}.")
]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here.")]
SelectOpt = Annotated[list[str] | None, typer.Option("--select", help="Only these rule ids.")]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")]
ValidityOpt = Annotated[
    list[str] | None, typer.Option("--validity-check", help="Extra PFN-validating function.")
]
PresetOpt = Annotated[
    str | None,
    typer.Option(
        help="Geometry the model judges walks under (default: the preset of the arch/ a "
        "patch touches, else .kscan.toml's, else as a scan does: arch/<a>/ files under "
        f"that architecture's presets, the rest under each of {', '.join(JUDGE_ORDER)} "
        "in turn, naming the first where a walk breaks)."
    ),
]
DEFAULT_JOBS = default_jobs()


@app.command(
    "series",
    help="Apply patches in a throwaway copy of the tree; report per patch "
    "the findings it introduces and removes.",
)
def series_command(
    patches: Annotated[
        list[str],
        typer.Argument(
            help="format-patch files, mbox files, single messages (.eml), maildir "
            "folders, plain diffs, or - for standard input (b4 am -o - MSGID | kscan series -)."
        ),
    ],
    tree: TreeOpt = Path("."),
    fmt: ReviewFormatOpt = "text",
    output: OutputOpt = None,
    fail_on: FailOnOpt = None,
    select: SelectOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    validity_check: ValidityOpt = None,
    preset: PresetOpt = None,
    no_cache: NoCacheOpt = False,
    file_budget: FileBudgetOpt = str(DEFAULT_FILE_BUDGET),
    strict: StrictOpt = False,
    stop_on_fail: Annotated[
        bool,
        typer.Option(
            "--stop-on-fail",
            help="Stop at the first patch that does not apply (default: go on without it).",
        ),
    ] = False,
    sender: Annotated[
        str | None,
        typer.Option("--from", help="--format email: the From of the replies, 'Name <addr>'."),
    ] = None,
    signoff: Annotated[
        str | None,
        typer.Option(help="--format email: the line that closes each reply, e.g. 'Thanks, Jane'."),
    ] = None,
) -> None:
    from kscan.review.review import review_patches  # git and unidiff: only for series and diff

    def note(text: str) -> None:
        stderr().print(f"kscan: note: {text}", markup=False, highlight=False)

    _review(
        tree,
        lambda root, options, settings: review_patches(
            root, patches, options, settings, preset, stop_on_fail, note
        ),
        fmt,
        output,
        fail_on,
        select,
        jobs,
        validity_check,
        no_cache,
        file_budget,
        strict,
        Reply(sender, signoff),
    )


@app.command("diff", help="Like `series`, for the commits of a range in a git tree.")
def diff_command(
    revs: Annotated[str | None, typer.Argument(help="A..B, or A for A..HEAD.")] = None,
    base: Annotated[str | None, typer.Option("--base", help="Same as REV..HEAD.")] = None,
    tree: TreeOpt = Path("."),
    fmt: ReviewFormatOpt = "text",
    output: OutputOpt = None,
    fail_on: FailOnOpt = None,
    select: SelectOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    validity_check: ValidityOpt = None,
    preset: PresetOpt = None,
    no_cache: NoCacheOpt = False,
    file_budget: FileBudgetOpt = str(DEFAULT_FILE_BUDGET),
    strict: StrictOpt = False,
) -> None:
    if (revs is None) == (base is None):
        raise fail("give a range (A..B) or --base REV, not both")
    spec = revs or f"{base}..HEAD"
    from kscan.review.review import review_range

    _review(
        tree,
        lambda root, options, settings: review_range(root, spec, options, settings, preset),
        fmt,
        output,
        fail_on,
        select,
        jobs,
        validity_check,
        no_cache,
        file_budget,
        strict,
    )


def _review(
    tree: Path,
    judge: Callable[[Path, Options, Config], SeriesResult],
    fmt: str,
    output: Path | None,
    fail_on: str | None,
    select: list[str] | None,
    jobs: int,
    validity_check: list[str] | None,
    no_cache: bool,
    file_budget: str,
    strict: bool,
    reply: Reply | None = None,
) -> None:
    from kscan.review.series import SeriesError

    if fmt not in SERIES_FORMATS:
        raise fail(f"unknown format {fmt!r} (choose from {', '.join(SERIES_FORMATS)})")
    _check_rules(select)
    budget = _file_budget(file_budget)
    root = _root_of(tree)
    if root is None:
        raise fail(f"{tree} is not in a kernel tree (Makefile, mm/, include/linux/mmzone.h)")
    settings = _load_config(root)
    threshold = _fail_on(fail_on, settings)
    options = Options(
        paths=[str(root)],
        excludes=settings.exclude,
        jobs=jobs,
        select=settings.rules(select),
        extra_validity_checks=validity_check or settings.validity_checks,
        cache=not no_cache,
        file_budget=budget,
    )
    try:
        series = judge(root, options, settings)
    except (SeriesError, DiscoverError, TreeInfoError) as err:
        raise fail(str(err)) from None
    if fmt == "text":
        _note_config(settings)
    _write(render_series(series, fmt, reply), output)
    _print_warning_lines([f"{f.path}: {f.reason}" for f in series.not_analysed])
    if fmt == "email" and not any(p.newsworthy for p in series.patches):
        stderr().print("kscan: no finding changes: no replies to write", markup=False)
    if series.unjudged:
        count, total = len(series.unjudged), len(series.patches)
        stderr().print(
            f"kscan: {count} of {total} patches could not be judged (the report says why)",
            markup=False,
        )
        raise typer.Exit(EXIT_USAGE)
    if strict and series.not_analysed:
        raise typer.Exit(EXIT_INCOMPLETE)  # some patch's effect is unknown, findings or not
    raise typer.Exit(EXIT_FINDINGS if series.failed(threshold) else EXIT_CLEAN)


GRAPH_SCOPE_HELP = (
    "Call graph of the scanned paths only (paths), or also of the files elsewhere in the "
    "tree that call the contig APIs (tree; reads every source once, seconds)."
)
GraphScopeOpt = Annotated[str, typer.Option(help=GRAPH_SCOPE_HELP)]
SemanticsOpt = Annotated[
    str | None, typer.Option(help=f"Override the tree's MAX_ORDER meaning: {', '.join(SEMANTICS)}.")
]


def _graph_scope(value: str) -> str:
    if value not in ("paths", "tree"):
        raise fail(f"unknown --graph-scope {value!r} (choose from paths, tree)")
    return value


def _ranking(
    paths: list[str] | None,
    graph_scope: str,
    semantics: str | None,
    jobs: int,
    no_cache: bool,
    top: int,
) -> Ranking:
    options = Options(
        paths=paths or ["."],
        jobs=jobs,
        semantics=semantics,
        graph_scope=_graph_scope(graph_scope),
        cache=not no_cache,
    )
    ranked = _with_progress(
        lambda progress: rank_hotspots(options, top, progress), sys.stderr.isatty()
    )
    _outlive(ranked)
    # a file left out (binary, unreadable, over the budget) is missing from the ranking
    _print_warning_lines([f"{f.path}: {f.reason}" for f in ranked.scan.result.not_analysed])
    return ranked


@app.command("hotspots", help="Rank functions by where fixing an assumption matters most.")
def hotspots_command(
    paths: Annotated[list[str] | None, typer.Argument(help="Files, directories or globs.")] = None,
    top: Annotated[int, typer.Option("--top", "-n", min=1, help="How many to show.")] = 10,
    graph_scope: GraphScopeOpt = "paths",
    max_order_semantics: SemanticsOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    no_cache: NoCacheOpt = False,
) -> None:
    ranked = _ranking(paths, graph_scope, max_order_semantics, jobs, no_cache, top)
    _print_table(hotspots.TABLE_COLUMNS, hotspots.table_rows(ranked.hotspots))
    print(hotspots.TABLE_LEGEND)


@app.command("graph", help="Export the hotspot call subgraph (dot or json).")
def graph_command(
    paths: Annotated[list[str] | None, typer.Argument(help="Files, directories or globs.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="dot or json.")] = "dot",
    top: Annotated[int, typer.Option("--top", "-n", min=1, help="Hotspots to include.")] = 10,
    output: OutputOpt = None,
    graph_scope: GraphScopeOpt = "paths",
    max_order_semantics: SemanticsOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    no_cache: NoCacheOpt = False,
) -> None:
    if fmt not in ("dot", "json"):
        raise fail(f"unknown format {fmt!r} (choose from dot, json)")
    ranked = _ranking(paths, graph_scope, max_order_semantics, jobs, no_cache, top)
    _write(hotspots.export(ranked.graph, ranked.hotspots, fmt), output)


@app.command("model", help="Show the memory geometry and layout kscan judges findings under.")
def model_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="The tree whose arch/ and era to model (default: the one around the "
            "current folder); with --max-order, the findings to re-judge."
        ),
    ] = None,
    arch: Annotated[
        str, typer.Option("--arch", help="Preset: " + ", ".join(MODEL_PRESETS))
    ] = "x86_64",
    layout: Annotated[Path | None, typer.Option("--layout", help=LAYOUT_HELP)] = None,
    max_order: Annotated[
        int | None,
        typer.Option(
            "--max-order",
            min=0,
            help="What-if: the largest buddy order, up to the one whose first block holds "
            "all of the layout's memory.",
        ),
    ] = None,
    svg: Annotated[
        Path | None, typer.Option("--svg", help="Write the memory map picture here.")
    ] = None,
    emit_cmdline: Annotated[
        bool, typer.Option("--emit-cmdline", help="Print memmap= arguments for a VM with holes.")
    ] = False,
) -> None:
    from kscan.model.cmdline import boot_recipe_lines
    from kscan.model.render import svg_text
    from kscan.model.report import (
        MODEL_COLUMNS,
        MODEL_UNITS,
        model_report,
        problem_lines,
        what_if,
        what_if_lines,
    )

    tree = read_tree_info(_root_of(Path(paths[0] if paths else ".")))
    try:
        current = contexts(tree, arch, layout)[0]
    except ModelError as err:
        raise fail(str(err)) from None
    if emit_cmdline:
        try:
            print("\n".join(boot_recipe_lines(current.geometry)))
        except ValueError as err:
            raise fail(str(err)) from None
        return
    if max_order is not None and max_order > current.order_limit:
        raise fail(
            f"--max-order {max_order} is past {current.order_limit}, where one block already "
            f"holds all of the layout's memory (PFNs below {current.memmap.span.end:#x})"
        )
    ctx = what_if(current, max_order)
    rows, problems = model_report(ctx)
    out = stdout()
    out.print(_table(MODEL_COLUMNS, rows, title=ctx.title, caption=MODEL_UNITS))
    _print_lines(out, problem_lines(problems))
    if svg is not None:
        _write(svg_text(ctx), svg)
        out.print(f"memory map written to {svg}")
    if max_order is not None and paths:
        findings = _run_scan(Options(paths=paths), False).result.findings
        _print_lines(out, what_if_lines(findings, current, ctx))


VM_HELP = "Boot a kernel in QEMU with the model's holes; compare what it reports with the model."
VM_PROBE_HELP = "compaction, kpageflags, page_owner, offline, hugetlb, or all; repeatable."


WHAT_IF_HELP = "List what depends on the largest buddy block fitting in a section."
WHAT_IF_FORMAT_HELP = "text, markdown, json or sarif."


@app.command("what-if", help=WHAT_IF_HELP)
def what_if_command(
    max_order: Annotated[
        int, typer.Option("--max-order", min=0, max=63, help="N, the largest buddy order.")
    ],
    paths: Annotated[
        list[str] | None, typer.Argument(help="Files or directories (default: the whole tree).")
    ] = None,
    arch: Annotated[str, typer.Option("--arch", help="Preset: " + ", ".join(MODEL_PRESETS))] = (
        "x86_64"
    ),
    fmt: Annotated[str, typer.Option("--format", "-f", help=WHAT_IF_FORMAT_HELP)] = "text",
    output: OutputOpt = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="fnmatch pattern; repeatable.")
    ] = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    from kscan.report import WHAT_IF_FORMATS, render_what_if
    from kscan.whatif.run import WhatIfError, what_if

    if fmt not in WHAT_IF_FORMATS:
        raise fail(f"unknown format {fmt!r} (choose from {', '.join(WHAT_IF_FORMATS)})")
    asked = (paths, max_order, arch, jobs, tuple(exclude or ()))
    try:
        if quiet or not sys.stderr.isatty():
            result = what_if(*asked)
        else:
            with _RichProgress() as progress:
                result = what_if(*asked, progress)
    except (WhatIfError, DiscoverError, TreeInfoError, ModelError) as err:
        raise fail(str(err)) from None
    if not quiet:
        _print_warning_lines(result.warnings)
    _write(render_what_if(result, fmt), output)
    raise typer.Exit(EXIT_FINDINGS if result.sites else EXIT_CLEAN)


@app.command("vm", help=VM_HELP)
def vm_command(
    kernel: Annotated[Path, typer.Option("--kernel", "-k", help="bzImage or vmlinuz to boot.")],
    layout: Annotated[
        Path | None, typer.Option("--layout", help=LAYOUT_HELP + " Default: --emit-cmdline's.")
    ] = None,
    append: Annotated[str, typer.Option("--append", help="More kernel arguments.")] = "",
    probe: Annotated[list[str] | None, typer.Option("--probe", help=VM_PROBE_HELP)] = None,
    accel: Annotated[str, typer.Option("--accel", help="auto (KVM if it works), kvm, tcg.")] = (
        "auto"
    ),
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    output: OutputOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", min=10, help="Seconds for the boot.")] = (
        300
    ),
    busybox: Annotated[
        Path | None, typer.Option("--busybox", help="A static busybox for the guest.")
    ] = None,
    console: Annotated[
        Path | None, typer.Option("--save-console", help="Write the serial console here.")
    ] = None,
) -> None:
    from kscan.vm import ACCELS, PROBES, VmRequest, VmSetupError, render, run_vm

    if fmt not in ("text", "json"):
        raise fail(f"unknown format {fmt!r} (choose from text, json)")
    if accel not in ACCELS:
        raise fail(f"unknown accelerator {accel!r} (choose from {', '.join(ACCELS)})")
    probes = tuple(PROBES) if "all" in (probe or ()) else tuple(probe or ())
    request = VmRequest(kernel, layout, append, probes, accel, timeout, busybox)
    try:
        if sys.stderr.isatty():
            with stderr().status("kscan vm") as status:
                result = run_vm(request, lambda text: status.update(f"kscan vm: {text}"))
        else:
            result = run_vm(request)
    except VmSetupError as err:
        raise fail(str(err)) from None
    except KeyboardInterrupt:
        raise Interrupted("the VM was stopped") from None
    if console is not None:
        _write(result.boot.console, console)
    _write(render(result, fmt), output)
    raise typer.Exit(result.exit_code)


cache_app = typer.Typer(help="The per-file facts cache: where it is, and clearing it.")
app.add_typer(cache_app, name="cache")


@cache_app.command("info", help="Print the cache's path, entries and size.")
def cache_info_command() -> None:
    from kscan.facts import cache

    print("\n".join(cache.info_lines()))


@cache_app.command("clear", help="Remove the cache (kscan's facts database files only).")
def cache_clear_command() -> None:
    from kscan.facts import cache

    try:
        print("\n".join(cache.clear_lines()))
    except OSError as err:
        raise fail(f"cannot clear the cache: {err.strerror or err}") from None


@app.command("rules", help="List the rules.")
def rules_command() -> None:
    _print_table(CATALOG_COLUMNS, [catalog_row(rule) for rule in RULES])


@app.command("explain", help="Print what a rule finds, why it matters, an example and the fix.")
def explain_command(
    rule_id: Annotated[str, typer.Argument(help="KSnnn or the rule's name.")],
) -> None:
    rule = rule_by_id(rule_id)
    if rule is None:
        from kscan.whatif.classes import class_by_id  # `kscan what-if`'s classes

        rule = class_by_id(rule_id)
    if rule is None:
        raise fail(f"unknown rule {rule_id!r} (see `kscan rules`)")
    print(explanation(rule))


@app.command("version", help="Print kscan's version.")
def version_command() -> None:
    print(f"kscan {__version__}")


def main(argv: list[str] | None = None) -> None:
    """`kscan PATH` means `kscan scan PATH`: the scan is the default command."""
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {c.name for c in app.registered_commands}
    commands |= {g.name for g in app.registered_groups}  # kscan cache ...
    default = not args or (args[0] not in commands and args[0] not in ("--help", "-h"))
    # Facts are a few hundred thousand small acyclic records: collecting every 700
    # allocations while they load doubles the loading time, so collect rarely (as mypy
    # does).  With __main__.py's: -5% CPU of `kscan mm/` cold (bench/bench.py --variant,
    # median of 21 paired runs, busy machine).
    gc.set_threshold(200_000, 20, 20)
    try:
        command = ["scan", *args] if default else args
        status = app(command, prog_name="kscan", standalone_mode=False)
    except typer.TyperException as err:  # bad usage: one line, like our own errors
        stderr().print(f"kscan: error: {err.format_message()}", markup=False, highlight=False)
        sys.exit(EXIT_USAGE)
    except Interrupted as done:
        stderr().print(f"kscan: interrupted; {done}", markup=False)
        sys.exit(EXIT_INTERRUPTED)
    except (KeyboardInterrupt, typer.Abort):
        status = EXIT_INTERRUPTED
    except Exception as err:
        if os.environ.get("KSCAN_DEBUG"):
            raise
        stderr().print(
            f"kscan: internal error: {type(err).__name__}: {err} "
            "(set KSCAN_DEBUG=1 for the traceback, and please report it)",
            markup=False,
            highlight=False,
        )
        sys.exit(EXIT_USAGE)
    if status == EXIT_INTERRUPTED:  # typer turns Ctrl-C into this status, in silence
        stderr().print("kscan: interrupted", markup=False)
    sys.exit(status or EXIT_CLEAN)
