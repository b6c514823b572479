"""Kernel splats in the log: oopses, BUGs, WARNs, bad page states, panics.

Each is named by its first line and kept with the lines that follow it up to its
end marker (or a bounded number), and is attributed to the probe whose markers
(guest.py's PROBE_MARK lines) surround it, else to the boot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kscan.vm.guest import PROBE_MARK

_STAMP = re.compile(r"^\[\s*\d+\.\d+\] ?")
# The first line of each kind of splat, as the kernel prints it.
_HEADS = re.compile(
    r"(?:^|\] )("
    r"WARNING: CPU: \d+ PID: \d+ at .*"
    r"|kernel BUG at .*"
    r"|BUG: .*"
    r"|Oops: .*"
    r"|general protection fault.*"
    r"|BUG: Bad page state.*"
    r"|Bad page map.*"
    r"|UBSAN: .*"
    r"|Kernel panic - not syncing.*"
    r"|INFO: task .* blocked for more than .*"
    r")$"
)
_END = re.compile(r"---\[ end (?:trace|Kernel panic)")
_MAX_LINES = 40
_PROBE = re.compile(rf"{re.escape(PROBE_MARK)} (\S+) (start|end)")


@dataclass(frozen=True, slots=True)
class Splat:
    title: str  # "WARNING: CPU: 0 PID: 1 at mm/page_alloc.c:5525 ..."
    phase: str  # "boot" or "probe NAME"
    text: str  # the splat, time stamps removed


def find_splats(log: str) -> list[Splat]:
    lines = [_STAMP.sub("", line) for line in log.splitlines()]
    splats, phase, i = [], "boot", 0
    while i < len(lines):
        mark = _PROBE.search(lines[i])
        if mark:
            phase = f"probe {mark[1]}" if mark[2] == "start" else "after the probes"
        head = _HEADS.search(lines[i])
        if head is None:
            i += 1
            continue
        end = i + 1
        while end < min(len(lines), i + _MAX_LINES) and not _HEADS.search(lines[end]):
            end += 1
            if _END.search(lines[end - 1]):
                break
        splats.append(Splat(head[1], phase, "\n".join(lines[i:end])))
        i = end
    return splats
