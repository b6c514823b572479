"""`kscan vm` results as text (a table to paste into a review) or JSON."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict

from kscan.vm.compare import Check
from kscan.vm.session import VmResult
from kscan.vm.splats import Splat

_COLUMNS = ("check", "subject", "model", "kernel", "result")
_NOTE_INDENT = "    "


def render(result: VmResult, fmt: str) -> str:
    return to_json(result) if fmt == "json" else to_text(result)


def to_text(result: VmResult) -> str:
    boot = result.boot
    lines = [
        f"kernel: {result.kernel.version_string}",
        f"layout: {_layout_name(result)}",
        f"booted: {boot.accel.upper()}, 1 vCPU, -m {result.memory}; {boot.ending} after "
        f"{boot.seconds:.1f} s (kscan vm {result.seconds:.1f} s in all)",
        f"kernel command line: {result.cmdline}",
        *(f"note: {note}" for note in result.notes),
    ]
    if result.edits:
        lines.append("the kernel's own changes to the layout's RAM (the model follows them):")
        lines += [f"  {edit}" for edit in result.edits]
    lines += ["", *_table(result.checks)]
    for probe in result.probes:
        lines += ["", f"probe {probe.name}: {probe.outcome}"]
        if probe.checks:
            lines += ["  " + row for row in _table(probe.checks)]
        lines += _splats(probe.splats, "  ")
    if result.splats:
        lines += ["", "kernel splats outside the probes:", *_splats(result.splats, "  ")]
    lines += ["", _verdict(result)]
    return "\n".join(lines) + "\n"


def _layout_name(result: VmResult) -> str:
    layout = result.layout
    return layout.name if layout.name == layout.source else f"{layout.name} ({layout.source})"


def _table(checks: list[Check]) -> list[str]:
    rows = [(c.topic, c.subject, c.model, c.kernel, c.status) for c in checks]
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
    out = ["  ".join(h.ljust(w) for h, w in zip(_COLUMNS, widths, strict=True)).rstrip()]
    for check, row in zip(checks, rows, strict=True):
        out.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        if check.note:
            out += textwrap.wrap(
                check.note, 100, initial_indent=_NOTE_INDENT, subsequent_indent=_NOTE_INDENT
            )
    return out


def _splats(splats: list[Splat], indent: str) -> list[str]:
    out = []
    for splat in splats:
        out.append(f"{indent}SPLAT ({splat.phase}): {splat.title}")
        out += [f"{indent}  | {line}" for line in splat.text.splitlines()[1:12]]
    return out


def _verdict(result: VmResult) -> str:
    differ = [c for c in result.checks if c.agrees is not True]
    probes = [p.name for p in result.probes if p.agrees is False]
    splats = len(result.splats) + sum(len(p.splats) for p in result.probes)
    if result.agrees:
        ran = [p for p in result.probes if p.agrees]
        probes_text = f", {len(ran)} probes" if ran else ""
        return f"the kernel agrees with the model ({len(result.checks)} checks{probes_text})"
    parts = []
    if differ:
        parts.append(f"{len(differ)} of {len(result.checks)} checks differ or were not shown")
    if probes:
        parts.append(f"probes {', '.join(probes)} disagree")
    if splats:
        parts.append(f"{splats} kernel splats")
    if not result.finished:
        parts.append("the guest did not finish")
    return "DISAGREE: " + "; ".join(parts)


def to_json(result: VmResult) -> str:
    boot = result.boot
    data = {
        "kernel": {"path": str(result.kernel.path), "version": result.kernel.version_string},
        "layout": {
            "name": result.layout.name,
            "source": result.layout.source,
            "ram": [str(r) for r in result.layout.ram],
        },
        "kernel_edits": [str(e) for e in result.edits],
        "boot": {
            "accel": boot.accel,
            "memory": result.memory,
            "cmdline": result.cmdline,
            "ending": boot.ending,
            "seconds": round(boot.seconds, 2),
            "finished": result.finished,
            "notes": result.notes,
        },
        "seconds": round(result.seconds, 2),
        "checks": [asdict(c) for c in result.checks],
        "probes": [
            {
                "name": p.name,
                "outcome": p.outcome,
                "agrees": p.agrees,
                "checks": [asdict(c) for c in p.checks],
                "splats": [asdict(s) for s in p.splats],
            }
            for p in result.probes
        ],
        "splats": [asdict(s) for s in result.splats],
        "agrees": result.agrees,
        "exit_code": result.exit_code,
    }
    return json.dumps(data, indent=2) + "\n"
