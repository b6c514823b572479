"""How much work a scan does: the step count that tests and bench/growth.py bound.

A step is a line of Python run (a function call and a loop's turn included), counted
by a trace function.  Steps do not depend on the machine or its load, so a test can
bound them where it cannot bound seconds.  Work inside one C call (a tree-sitter parse
or query, a regex, a builtin over a list) is one step: bench/growth.py reads CPU
seconds beside the steps for that.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any


@dataclass
class StepCount:
    steps: int = 0


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
