"""Command line: `kscan PATH...` scans; `kscan rules`, `kscan explain ID` describe rules.

Exit status: 0 no findings, 1 findings, 2 bad usage or input.  Errors are one line on
stderr, never a traceback.
"""

from __future__ import annotations

import gc
import os
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kscan import __version__, config
from kscan.callgraph import display
from kscan.config import Config, ConfigError
from kscan.discover import DiscoverError
from kscan.engine import Options, Scan, scan
from kscan.findings import FailOn
from kscan.judge import ModelError, contexts
from kscan.model.geometry import PRESETS
from kscan.report import FORMATS, SERIES_FORMATS, render, render_series
from kscan.rules import RULES, rule_by_id
from kscan.suppress import BaselineError, read_baseline, settle, subtract, write_baseline
from kscan.treeinfo import SEMANTICS, TreeInfoError, find_root, read_tree_info
from kscan.workers import default_jobs

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    rich_markup_mode=None,
    help="Find memory-layout assumptions (holes, MAX_ORDER, contig ranges) in Linux mm code.",
)
if TYPE_CHECKING:
    from rich.console import Console


@cache
def stderr() -> Console:
    """rich is imported when there is something to say: a clean scan never needs it.
    soft_wrap: an error or warning stays one line however narrow the terminal (or pipe)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
MODEL_PRESET_HELP = (
    "Judge findings under this geometry only, e.g. arm64-4k, x86_64, x86_64:sparsemem "
    "(default: the first of several presets where the walk breaks)."
)
MODEL_PRESETS = (*PRESETS, "x86_64:sparsemem")
LAYOUT_HELP = "Memory layout to judge against: dmesg e820 lines, /proc/iomem, memmap=, .toml/.json."
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Neither read nor write the per-file facts cache.")
]


FAIL_ON_HELP = (
    "Exit 1 on a finding that counts: breaks (the default: a `breaks` verdict), unknown "
    "(breaks or unknown), any, or a severity: low, medium, high."
)
FailOnOpt = Annotated[str | None, typer.Option(help=FAIL_ON_HELP)]


def fail(message: str) -> typer.Exit:
    stderr().print(f"kscan: error: {message}", markup=False, highlight=False)
    return typer.Exit(EXIT_USAGE)


SCAN_HELP = "Scan PATHs (default: the current directory) and report findings."


@app.command("scan", help=SCAN_HELP)
def scan_command(
    paths: Annotated[list[str] | None, typer.Argument(help="Files, directories or globs.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json or sarif.")] = "text",
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
        Path | None, typer.Option("--write-baseline", help="Save the findings as a baseline.")
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
) -> None:
    if fmt not in FORMATS:
        raise fail(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    _check_rules(select)
    paths = paths or ["."]
    settings = _load_config(find_root(Path(paths[0])))
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
    )
    done = _run_scan(options, show_progress=not quiet and sys.stderr.isatty())
    _outlive(done)
    done.result = settle(done.result, settings)
    try:
        if new_baseline:
            write_baseline(new_baseline, done.result.findings)
            raise typer.Exit(EXIT_CLEAN)
        if baseline:
            done.result.findings = subtract(done.result.findings, read_baseline(baseline))
    except BaselineError as err:
        raise fail(str(err)) from None
    if not quiet:
        _print_warnings(done, verbose)
    if fmt != "sarif":
        from kscan.hotspots import report_rows  # after suppressions and the baseline

        done.result.hotspots = report_rows(done.project, done.result.findings)
    _write_report(done, fmt, output, show_all)
    failed = any(threshold.counts(f) for f in done.result.findings)
    raise typer.Exit(EXIT_FINDINGS if failed else EXIT_CLEAN)


_kept: list[object] = []


def _outlive(scan: Scan) -> None:
    """Let the last scan outlive its command: freeing its facts object by object took
    20 ms after a scan of mm/, and `kscan` ends the process right after (__main__.py)."""
    _kept[:] = [scan]


def _run_scan(options: Options, show_progress: bool) -> Scan:
    try:
        if not show_progress:
            return scan(options)
        with _RichProgress() as progress:
            return scan(options, progress)
    except (DiscoverError, TreeInfoError, ModelError) as err:
        raise fail(str(err)) from None


class _RichProgress:
    """The engine's Progress on a rich bar (terminal only; the CLI checks)."""

    def __enter__(self):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("parsing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=stderr,
            transient=True,
        )
        self.bar.__enter__()
        self.task = self.bar.add_task("parse", total=None)
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def start(self, total: int) -> None:
        self.bar.update(self.task, total=total)

    def advance(self, n: int) -> None:
        self.bar.advance(self.task, n)


def _print_warnings(done: Scan, verbose: bool) -> None:
    for warning in done.result.warnings:
        stderr().print(f"kscan: warning: {warning}", markup=False, highlight=False)
    if not verbose:
        return
    for facts in done.project.files:
        if facts.has_errors or facts.recovered_regions or facts.not_utf8:
            notes = ["ERROR nodes"] if facts.has_errors else []
            if facts.recovered_regions:
                notes.append(f"{facts.recovered_regions} runaway regions re-parsed")
            if facts.unrecovered_bodies:
                notes.append(f"{facts.unrecovered_bodies} function bodies not recovered")
            if facts.not_utf8:
                notes.append("not UTF-8, decoded leniently")
            stderr().print(f"kscan: parse: {facts.path}: {', '.join(notes)}", markup=False)


def _write_report(done: Scan, fmt: str, output: Path | None, show_all: bool) -> None:
    color = output is None and fmt == "text" and sys.stdout.isatty()
    _write(render(done.result, fmt, color=color, show_all=show_all), output)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        output.write_text(text if text.endswith("\n") else text + "\n")
    except OSError as err:
        raise fail(f"cannot write {output}: {err.strerror or err}") from None


def _fail_on(option: str | None, settings: Config) -> FailOn:
    try:
        return FailOn.parse(option) if option else settings.fail_on or FailOn()
    except ValueError as err:
        raise fail(f"--fail-on: {err}") from None


def _check_rules(select: list[str] | None) -> None:
    for rule_id in select or ():
        if rule_by_id(rule_id) is None:
            raise fail(f"unknown rule {rule_id!r} (see `kscan rules`)")


def _load_config(root: Path | None) -> Config:
    try:
        return config.load(root)
    except ConfigError as err:
        raise fail(str(err)) from None


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
    str | None, typer.Option(help="Geometry the model judges walks under (default x86_64).")
]
DEFAULT_JOBS = default_jobs()


@app.command(
    "series",
    help="Apply patches in a throwaway copy of the tree; report per patch "
    "the findings it introduces and removes.",
)
def series_command(
    patches: Annotated[list[Path], typer.Argument(help="git format-patch files or mbox files.")],
    tree: TreeOpt = Path("."),
    fmt: ReviewFormatOpt = "text",
    output: OutputOpt = None,
    fail_on: FailOnOpt = None,
    select: SelectOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    validity_check: ValidityOpt = None,
    preset: PresetOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    from kscan.series import load_patches

    _review(
        tree,
        lambda _root: (None, load_patches(patches)),
        fmt,
        output,
        fail_on,
        select,
        jobs,
        validity_check,
        preset,
        no_cache,
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
) -> None:
    if (revs is None) == (base is None):
        raise fail("give a range (A..B) or --base REV, not both")
    spec = revs or f"{base}..HEAD"
    from kscan.series import commit_range

    _review(
        tree,
        lambda root: commit_range(root, spec),
        fmt,
        output,
        fail_on,
        select,
        jobs,
        validity_check,
        preset,
        no_cache,
    )


def _review(
    tree, load, fmt, output, fail_on, select, jobs, validity_check, preset, no_cache=False
) -> None:
    from kscan.review import review  # patches, git and unidiff: only for series and diff
    from kscan.series import SeriesError

    if fmt not in SERIES_FORMATS:
        raise fail(f"unknown format {fmt!r} (choose from {', '.join(SERIES_FORMATS)})")
    _check_rules(select)
    root = find_root(tree)
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
    )
    try:
        base, patches = load(root)
        series = review(root, patches, options, settings, base, preset)
    except (SeriesError, DiscoverError, TreeInfoError) as err:
        raise fail(str(err)) from None
    except KeyboardInterrupt:
        stderr().print("kscan: interrupted; the temporary copy was removed", markup=False)
        raise typer.Exit(130) from None
    _write(render_series(series, fmt), output)
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


def _graph_scan(paths, graph_scope, semantics, jobs, no_cache=False) -> Scan:
    options = Options(
        paths=paths or ["."],
        jobs=jobs,
        semantics=semantics,
        graph_scope=_graph_scope(graph_scope),
        cache=not no_cache,
        prefilter=False,  # centrality needs every function, not only the rules' files
    )
    return _run_scan(options, show_progress=sys.stderr.isatty())


def _hotspots(done: Scan, top: int):
    from kscan import hotspots  # networkx: only these commands pay for importing it

    scanned = {f.path for f in done.project.files}
    return hotspots.rank(done.project.callgraph, done.result.findings, scanned, top)


@app.command("hotspots", help="Rank functions by where fixing an assumption matters most.")
def hotspots_command(
    paths: Annotated[list[str] | None, typer.Argument(help="Files, directories or globs.")] = None,
    top: Annotated[int, typer.Option("--top", "-n", min=1, help="How many to show.")] = 10,
    graph_scope: GraphScopeOpt = "paths",
    max_order_semantics: SemanticsOpt = None,
    jobs: JobsOpt = DEFAULT_JOBS,
    no_cache: NoCacheOpt = False,
) -> None:
    from rich.console import Console
    from rich.table import Table

    done = _graph_scan(paths, graph_scope, max_order_semantics, jobs, no_cache)
    table = Table("#", "score", "function", "file", "own", "below", "callers", "why hot", box=None)
    for i, spot in enumerate(_hotspots(done, top), 1):
        why = " -> ".join(display(n) for n in spot.chain)
        marks = "".join(m for m, on in (("A ", spot.alloc), ("C ", spot.contig)) if on)
        table.add_row(
            str(i),
            f"{spot.score:g}",
            spot.name,
            f"{spot.path}:{spot.line}",
            f"{spot.own:g}",
            f"{spot.below:g}",
            str(spot.callers),
            marks + why,
        )
    Console(width=200).print(table)
    print("A: reached from the allocator's entry points; C: on a contiguous-range path")


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
    from kscan import hotspots

    done = _graph_scan(paths, graph_scope, max_order_semantics, jobs, no_cache)
    graph = done.project.callgraph
    sub = hotspots.subgraph(graph, _hotspots(done, top))
    _write(hotspots.to_dot(sub) if fmt == "dot" else hotspots.to_json(sub, graph), output)


@app.command("model", help="Show the memory geometry and layout kscan judges findings under.")
def model_command(
    paths: Annotated[
        list[str] | None, typer.Argument(help="With --max-order: findings to re-judge.")
    ] = None,
    arch: Annotated[
        str, typer.Option("--arch", help="Preset: " + ", ".join(MODEL_PRESETS))
    ] = "x86_64",
    layout: Annotated[Path | None, typer.Option("--layout", help=LAYOUT_HELP)] = None,
    max_order: Annotated[
        int | None, typer.Option("--max-order", min=0, help="What-if: the largest buddy order.")
    ] = None,
    svg: Annotated[
        Path | None, typer.Option("--svg", help="Write the memory map picture here.")
    ] = None,
    emit_cmdline: Annotated[
        bool, typer.Option("--emit-cmdline", help="Print memmap= arguments for a VM with holes.")
    ] = False,
) -> None:
    from kscan.model import model_report, svg_text

    tree = read_tree_info(find_root(Path(paths[0])) if paths else None)
    try:
        current = contexts(tree, arch, layout)[0]
    except ModelError as err:
        raise fail(str(err)) from None
    if emit_cmdline:
        _print_boot_recipe(current)
        return
    ctx = (
        current.with_geometry(current.geometry.with_max_page_order(max_order))
        if max_order is not None
        else current
    )
    from rich.console import Console
    from rich.table import Table

    rows, problems = model_report(ctx)
    table = Table("", "value", "note", box=None, title=ctx.title)
    for row in rows:
        table.add_row(*row)
    out = Console(soft_wrap=True)
    out.print(table)
    _print_problem_blocks(out, problems)
    if svg is not None:
        _write(svg_text(ctx), svg)
        out.print(f"memory map written to {svg}")
    if max_order is not None and paths:
        _print_what_if(out, paths, current, ctx)


def _print_problem_blocks(out: Console, problems, limit: int = 12) -> None:
    if not problems:
        out.print("No MAX_ORDER block contains a hole or crosses a section or node.")
        return
    out.print(f"{len(problems)} MAX_ORDER blocks contain a hole or cross a section or node:")
    for block in problems[:limit]:
        out.print(f"  {block.pfns}: {'; '.join(block.reasons)}", markup=False)
    if len(problems) > limit:
        out.print(f"  ... and {len(problems) - limit} more")


def _print_what_if(out: Console, paths: list[str], current, what_if) -> None:
    from kscan.model import newly_breaking

    findings = [f for f in _run_scan(Options(paths=paths), False).result.findings if f.walk]
    changes = newly_breaking([f.walk for f in findings], current, what_if.geometry)
    out.print(
        f"What-if largest order {what_if.geometry.max_page_order}: "
        f"{len(changes)} of {len(findings)} walk findings turn from safe to breaking."
    )
    for change in changes:
        loc = findings[change.index].location
        out.print(f"  {loc.path}:{loc.line}: {loc.function}(): {change.after.reason}", markup=False)


def _print_boot_recipe(ctx) -> None:
    from kscan.model import emit_cmdline

    try:
        recipe = emit_cmdline(ctx.geometry)
    except ValueError as err:
        raise fail(str(err)) from None
    print(f"kernel command line: {recipe.cmdline}")
    print(f"QEMU memory: -m {recipe.qemu_memory}")
    print(f"boot: {recipe.qemu_command()}")
    print("check: dmesg | grep -E 'user-defined physical RAM map|user:' shows the holes")


cache_app = typer.Typer(help="The per-file facts cache: where it is, and clearing it.")
app.add_typer(cache_app, name="cache")


@cache_app.command("info", help="Print the cache's path, entries and size.")
def cache_info_command() -> None:
    from kscan import cache

    facts = cache.info()
    print(f"path: {facts['path']}")
    print(f"size: {_size(facts['bytes'])}")
    print(f"facts entries: {facts['entries']} ({facts['current']} for this kscan)")
    print(f"indexed files: {facts['files']}")
    if "error" in facts:
        print(f"error: {facts['error']}")


@cache_app.command("clear", help="Remove the cache (kscan's facts database files only).")
def cache_clear_command() -> None:
    from kscan import cache

    try:
        removed = cache.clear()
    except OSError as err:
        raise fail(f"cannot clear the cache: {err.strerror or err}") from None
    if not removed:
        print(f"no cache to remove in {cache.cache_dir()}")
    for path, size in removed:
        print(f"removed {path} ({_size(size)})")


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


@app.command("rules", help="List the rules.")
def rules_command() -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "name", "family", "severity", "confidence", "summary", box=None)
    for rule in RULES:
        table.add_row(
            rule.id, rule.name, rule.family, str(rule.severity), str(rule.confidence), rule.summary
        )
    Console().print(table)


@app.command("explain", help="Print what a rule finds, why it matters, an example and the fix.")
def explain_command(
    rule_id: Annotated[str, typer.Argument(help="KSnnn or the rule's name.")],
) -> None:
    rule = rule_by_id(rule_id)
    if rule is None:
        raise fail(f"unknown rule {rule_id!r} (see `kscan rules`)")
    print(
        f"{rule.id} {rule.name}  [family {rule.family}, severity {rule.severity}, "
        f"confidence {rule.confidence}]\n"
    )
    print(rule.doc)


@app.command("version", help="Print kscan's version.")
def version_command() -> None:
    print(f"kscan {__version__}")


# `kscan PATH...` runs the scan command from an app of its own: typer reads the
# signature of every command of an app before it runs one (10 ms for all, 3 for scan).
default_app = typer.Typer(add_completion=False, rich_markup_mode=None)
default_app.command(help=SCAN_HELP)(scan_command)


def main(argv: list[str] | None = None) -> None:
    """`kscan PATH` means `kscan scan PATH`: the scan is the default command."""
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {c.name for c in app.registered_commands}
    commands |= {g.name for g in app.registered_groups}  # kscan cache ...
    default = not args or (args[0] not in commands and args[0] not in ("--help", "-h"))
    # What start-up built lives as long as the process: out of the collector's sight, so
    # that forked workers do not copy its pages when they collect.  Facts are a few
    # hundred thousand small acyclic records: collecting every 700 allocations while
    # they load doubles the loading time, so collect rarely (as mypy does).
    gc.freeze()
    gc.set_threshold(200_000, 20, 20)
    try:
        status = (default_app if default else app)(args, prog_name="kscan", standalone_mode=False)
    except typer.TyperException as err:  # bad usage: one line, like our own errors
        stderr().print(f"kscan: error: {err.format_message()}", markup=False, highlight=False)
        sys.exit(EXIT_USAGE)
    except (KeyboardInterrupt, typer.Abort):
        stderr().print("kscan: interrupted", markup=False)
        sys.exit(130)
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
    sys.exit(status or EXIT_CLEAN)
