"""The serial console split into the parts /init printed between sentinels
(kscan/vm/guest.py) and the kernel's log."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kscan.vm.guest import DONE, LOG_PART

_MARK = re.compile(r"@@kscan-vm:(begin|end):(.+?)(?::(-?\d+))?@@")
# A console line the kernel printed: "[    4.123456] ..." (printk's time stamp).
_KERNEL_LINE = re.compile(r"^\[\s*\d+\.\d+\] ")


@dataclass(frozen=True, slots=True)
class Part:
    text: str
    status: int | None  # the command's exit status; None when the part was cut off


@dataclass(slots=True)
class Capture:
    parts: dict[str, Part] = field(default_factory=dict)
    boot_console: str = ""  # the kernel's lines before /init's first part
    finished: bool = False  # /init printed its last sentinel

    @property
    def log(self) -> str:
        """The kernel log: the whole ring buffer when /init dumped it, else what the
        console showed (a guest that died on the way)."""
        dmesg = self.parts.get(LOG_PART)
        if dmesg is not None and dmesg.status == 0:
            return dmesg.text
        return self.boot_console

    def text(self, name: str) -> str | None:
        part = self.parts.get(name)
        return part.text if part is not None and part.status == 0 else None


def split_console(console: str) -> Capture:
    """Parts by name; kernel lines that landed inside a part (an oops raises the console
    level) are kept for the log, not for the part."""
    capture = Capture()
    kernel_lines: list[str] = []
    current: str | None = None  # the part being read
    body: list[str] = []
    for raw in console.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if DONE in raw:
            capture.finished = True
            continue
        mark = _MARK.search(raw)
        line = raw[: mark.start()] if mark else raw
        if _KERNEL_LINE.match(line) and current != LOG_PART:
            kernel_lines.append(line)
        elif current is not None and (line or not mark):
            body.append(line)
        if mark is None:
            continue
        kind, name, status = mark.groups()
        if kind == "begin":
            current, body = name, []
        elif name == current:
            capture.parts[name] = Part("\n".join(body).strip("\n") + "\n", int(status))
            current = None
    if current is not None:
        capture.parts[current] = Part("\n".join(body), None)
    capture.boot_console = "\n".join(kernel_lines) + "\n"
    return capture
