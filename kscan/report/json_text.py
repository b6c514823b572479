"""The text of every JSON and SARIF report kscan writes.

orjson writes the same bytes as json.dumps(data, indent=2, ensure_ascii=False) + "\\n"
(checked on both Debian trees' reports) in a twenty-fifth of the time: the standard
library's C encoder is bypassed whenever indent is given, and pretty-printing 40,000
findings in pure Python took 2.9 s of a 19 s scan (issue #18).  One difference: floats
under 1e-4 are spelled 0.00001 and 1.5e-7 where json.dumps writes 1e-05 and 1.5e-07,
the same numbers to any JSON reader (reports hold few floats: scores and seconds).
Keys are strings and integers fit 64 bits in every report, as orjson requires.
"""

from __future__ import annotations

from typing import Any

import orjson


def dumps(data: Any) -> str:
    """data as indented JSON (two spaces, UTF-8 as it is), ending in a newline."""
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE).decode()
