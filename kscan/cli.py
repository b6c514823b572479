"""Command line: `kscan PATH...` scans; `kscan rules`, `kscan explain ID` describe rules.

Exit status: 0 no findings, 1 findings, 2 bad usage or input.  Errors are one line on
stderr, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kscan import __version__
from kscan.discover import DiscoverError
from kscan.engine import Options, Scan, scan
from kscan.report import FORMATS, render
from kscan.rules import RULES, rule_by_id
from kscan.treeinfo import SEMANTICS, TreeInfoError
from kscan.workers import default_jobs

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    rich_markup_mode=None,
    help="Find memory-layout assumptions (holes, MAX_ORDER, contig ranges) in Linux mm code.",
)
stderr = Console(stderr=True, highlight=False)

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A one-line error about the user's input."""


def fail(message: str) -> typer.Exit:
    stderr.print(f"kscan: error: {message}", markup=False, highlight=False)
    return typer.Exit(EXIT_USAGE)


@app.command("scan", help="Scan PATHs (default: the current directory) and report findings.")
def scan_command(
    paths: Annotated[list[str] | None, typer.Argument(help="Files, directories or globs.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json or sarif.")] = "text",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here.")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="fnmatch pattern; repeatable.")] = None,
    select: Annotated[list[str] | None, typer.Option("--select", help="Only these rule ids.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = default_jobs(),
    kernel_version: Annotated[str | None, typer.Option(help="Kernel version when no tree root is found.")] = None,
    max_order_semantics: Annotated[
        str | None, typer.Option(help=f"Override the tree's MAX_ORDER meaning: {', '.join(SEMANTICS)}.")
    ] = None,
    validity_check: Annotated[
        list[str] | None, typer.Option("--validity-check", help="Extra function that validates a PFN.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List parse problems too.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or warnings.")] = False,
) -> None:
    if fmt not in FORMATS:
        raise fail(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    for rule_id in select or ():
        if rule_by_id(rule_id) is None:
            raise fail(f"unknown rule {rule_id!r} (see `kscan rules`)")
    options = Options(
        paths=paths or ["."],
        excludes=exclude or (),
        jobs=jobs,
        kernel_version=kernel_version,
        semantics=max_order_semantics,
        select=select or (),
        extra_validity_checks=validity_check or (),
    )
    done = _run_scan(options, show_progress=not quiet and stderr.is_terminal)
    if not quiet:
        _print_warnings(done, verbose)
    _write_report(done, fmt, output)
    raise typer.Exit(EXIT_FINDINGS if done.result.findings else EXIT_CLEAN)


def _run_scan(options: Options, show_progress: bool) -> Scan:
    try:
        if not show_progress:
            return scan(options)
        with _RichProgress() as progress:
            return scan(options, progress)
    except (DiscoverError, TreeInfoError) as err:
        raise fail(str(err)) from None


class _RichProgress:
    """The engine's Progress on a rich bar (terminal only; the CLI checks)."""

    def __enter__(self):
        self.bar = Progress(
            TextColumn("parsing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=stderr, transient=True,
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
        stderr.print(f"kscan: warning: {warning}", markup=False, highlight=False)
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
            stderr.print(f"kscan: parse: {facts.path}: {', '.join(notes)}", markup=False)


def _write_report(done: Scan, fmt: str, output: Path | None) -> None:
    color = output is None and fmt == "text" and sys.stdout.isatty()
    text = render(done.result, fmt, color=color)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        output.write_text(text if text.endswith("\n") else text + "\n")
    except OSError as err:
        raise fail(f"cannot write {output}: {err.strerror or err}") from None


@app.command("rules", help="List the rules.")
def rules_command() -> None:
    table = Table("id", "name", "family", "severity", "confidence", "summary", box=None)
    for rule in RULES:
        table.add_row(rule.id, rule.name, rule.family, str(rule.severity), str(rule.confidence),
                      rule.summary)
    Console().print(table)


@app.command("explain", help="Print what a rule finds, why it matters, an example and the fix.")
def explain_command(rule_id: Annotated[str, typer.Argument(help="KSnnn or the rule's name.")]) -> None:
    rule = rule_by_id(rule_id)
    if rule is None:
        raise fail(f"unknown rule {rule_id!r} (see `kscan rules`)")
    print(f"{rule.id} {rule.name}  [family {rule.family}, severity {rule.severity}, "
          f"confidence {rule.confidence}]\n")
    print(rule.doc)


@app.command("version", help="Print kscan's version.")
def version_command() -> None:
    print(f"kscan {__version__}")


def main(argv: list[str] | None = None) -> None:
    """`kscan PATH` means `kscan scan PATH`: the scan is the default command."""
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {c.name for c in app.registered_commands}
    if not args or (args[0] not in commands and args[0] not in ("--help", "-h")):
        args = ["scan", *args]
    app(args, prog_name="kscan")
