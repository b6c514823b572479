"""Turn a finished scan into text, JSON or SARIF (a `kscan what-if` checklist too).

Reporters see a ScanResult only: findings plus plain metadata about the rules
that ran and the tree that was scanned. They never import rules or parse trees,
so a report can be rebuilt from saved findings alone.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from kscan.results import Reply

if TYPE_CHECKING:
    from collections.abc import Callable

    from kscan.results import ScanResult, SeriesResult, WhatIfResult

# format -> (module in kscan.report, function); a run imports only the one it writes
_RENDERERS = {
    "text": ("text", "render"),
    "json": ("json_report", "render"),
    "sarif": ("sarif", "render"),
}
_SERIES_RENDERERS = {
    "text": ("series_text", "render_text"),
    "email": ("email_report", "render"),
    "markdown": ("markdown_report", "render"),
    "sarif": ("series_text", "render_sarif"),
    "html": ("html_report", "render"),
}
FORMATS = tuple(_RENDERERS)
SERIES_FORMATS = tuple(_SERIES_RENDERERS)


_WHAT_IF_RENDERERS = {
    "text": ("whatif", "text"),
    "markdown": ("whatif", "markdown"),
    "json": ("whatif", "json_"),
    "sarif": ("whatif", "sarif"),
}
WHAT_IF_FORMATS = tuple(_WHAT_IF_RENDERERS)


def render(result: ScanResult, fmt: str, *, color: bool, show_all: bool = False) -> str:
    """The whole report as one string; color and show_all (list the findings that are
    safe by contract or by design, not only count them) only affect the text format:
    JSON and SARIF carry every finding."""
    if fmt not in _RENDERERS:
        raise ValueError(f"unknown format {fmt!r} ({', '.join(FORMATS)})")
    if fmt == "text":
        return _renderer(_RENDERERS[fmt])(result, color=color, show_all=show_all)
    return _renderer(_RENDERERS[fmt])(result)


def render_series(series: SeriesResult, fmt: str, reply: Reply | None = None) -> str:
    """A `kscan series`/`kscan diff` report: what each patch adds and removes."""
    if fmt not in _SERIES_RENDERERS:
        raise ValueError(f"unknown format {fmt!r} ({', '.join(SERIES_FORMATS)})")
    if fmt == "email":
        return _renderer(_SERIES_RENDERERS[fmt])(series, reply or Reply())
    return _renderer(_SERIES_RENDERERS[fmt])(series)


def render_what_if(result: WhatIfResult, fmt: str) -> str:
    """A `kscan what-if` checklist."""
    if fmt not in WHAT_IF_FORMATS:
        raise ValueError(f"unknown format {fmt!r} ({', '.join(WHAT_IF_FORMATS)})")
    return _renderer(_WHAT_IF_RENDERERS[fmt])(result)


def _renderer(where: tuple[str, str]) -> Callable[..., str]:
    module, function = where
    renderer: Callable[..., str] = getattr(import_module(f"kscan.report.{module}"), function)
    return renderer
