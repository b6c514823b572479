"""What one file may cost, and how work is counted.

The per-file budget is a safety net under the linear bounds the fact layer keeps
(bench/growth.py): a file whose parse and facts take more CPU time, or grow the
process by more memory, than `--file-budget` allows is given up and reported as not
analysed, and the scan goes on with the others.  It is checked ten times a CPU second
by a SIGPROF timer, in whichever process parses the file (a worker, or the scan's own
with -j 1), so a file cannot run away however its cost grows.  A check can only fire
between two Python steps: one call into tree-sitter (a parse, a query) runs to its end
first, and what it allocates counts once it returns.  One that lands where Python
cannot raise (a gc callback) is lost, and the next one raises again.

Steps, for tests and bench/growth.py: a step is a line of Python run (a function call
and a loop's turn included), counted by a trace function.  Steps do not depend on the
machine or its load, so a test can bound them where it cannot bound seconds; work
inside one C call (a tree-sitter parse or query, a regex, a builtin over a list) is
one step, and bench/growth.py reads CPU seconds beside the steps for that.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NamedTuple

_TICK = 0.1  # CPU seconds between two checks of the budget


class FileBudget(NamedTuple):
    """CPU seconds and memory (growth of the process, MB) one file may take to parse
    and read facts from; None: no limit.  The largest kernel sources (24 MB generated
    register headers) take a few seconds and a few hundred MB."""

    seconds: float | None = 120.0
    megabytes: int | None = 4096

    def __str__(self) -> str:
        parts = [f"{self.seconds:g}s" if self.seconds is not None else None]
        parts.append(f"{self.megabytes}MB" if self.megabytes is not None else None)
        return ",".join(p for p in parts if p) or "none"


DEFAULT_FILE_BUDGET = FileBudget()
NO_BUDGET = FileBudget(None, None)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(s|min|mb|gb)", re.I)


def parse_file_budget(text: str) -> FileBudget:
    """`--file-budget`: `30s`, `2min`, `512MB`, `2GB`, both (`30s,1GB`) or `none`.
    What the text leaves out keeps its default."""
    if text.strip().lower() == "none":
        return NO_BUDGET
    seconds, megabytes = DEFAULT_FILE_BUDGET.seconds, DEFAULT_FILE_BUDGET.megabytes
    for part in text.split(","):
        match = _PART.fullmatch(part.strip())
        if match is None or float(match[1]) <= 0:
            raise ValueError(
                f"bad --file-budget {text!r}: give seconds and/or memory, "
                "like 30s, 2min, 512MB, 2GB, 30s,1GB, or none"
            )
        amount, unit = float(match[1]), match[2].lower()
        if unit in ("s", "min"):
            seconds = amount * (60 if unit == "min" else 1)
        else:
            megabytes = round(amount * (1024 if unit == "gb" else 1))
    return FileBudget(seconds, megabytes)


class OverBudget(BaseException):
    """A file took more than its budget; the reason says which part, for the report.
    Like KeyboardInterrupt, it interrupts whatever runs: no `except Exception` on
    the way may take it for an error of the file's."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@contextmanager
def within(budget: FileBudget | None) -> Iterator[None]:
    """Run the block under the budget: OverBudget is raised in it when it has taken
    more CPU time or memory.  Only the main thread can take signals: elsewhere (kscan
    as a library in a thread) and without setitimer the block runs unchecked."""
    if (
        budget is None
        or budget == NO_BUDGET
        or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    started, base = time.process_time(), _resident()
    armed = True

    def check(signum: int | None = None, frame: FrameType | None = None) -> None:
        if not armed:
            return  # a tick that arrived as the block ended
        if budget.seconds is not None and time.process_time() - started > budget.seconds:
            raise OverBudget(f"not analysed: over the budget of {budget.seconds:g} s of CPU")
        if budget.megabytes is not None and _resident() - base > budget.megabytes << 20:
            raise OverBudget(f"not analysed: over the budget of {budget.megabytes} MB of memory")

    before = signal.signal(signal.SIGPROF, check)
    signal.setitimer(signal.ITIMER_PROF, _TICK, _TICK)
    try:
        yield
        check()  # the end counts too, so that a file over budget is never one tick lucky
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, before)


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _resident() -> int:
    """The process's resident memory in bytes (its peak where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        import resource  # not Linux: no /proc

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class StepCount:
    steps = 0


@contextmanager
def counting_steps() -> Iterator[StepCount]:
    """Count the steps the block takes (it runs two to three times slower meanwhile)."""
    count = StepCount()

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        count.steps += 1
        return trace

    before = sys.gettrace()
    sys.settrace(trace)
    try:
        yield count
    finally:
        sys.settrace(before)
