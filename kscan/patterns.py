"""Regular expressions compiled on first use and kept: `compiled(text)`.

For a pattern built from a name in the code (`rf"\\b{name}\\b"`), and for a constant
pattern worth compiling only when a run needs it.  re's own cache holds 512 patterns and
drops the oldest: a file that traced more distinct names than that made re compile them,
and every constant pattern still passed to re as text, again and again (a one-time jump
of 1.3x more work between 506 and 507 nested loops, each with its own variable; issue
#18).  Here a pattern is compiled once per run, up to _KEPT of them.
"""

from __future__ import annotations

import re
from functools import lru_cache

_KEPT = 8192  # distinct patterns: the names a run traces, with room to spare


@lru_cache(maxsize=_KEPT)
def compiled(text: str) -> re.Pattern[str]:
    return re.compile(text)
