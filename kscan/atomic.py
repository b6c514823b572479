"""Files kscan writes for the user (reports, baselines, pictures): all of it or none.

The text goes to a temporary file in the target's folder, reaches the disk, and only
then is renamed over the target.  A full disk or a killed kscan leaves the previous file
as it was (a plain write truncates it first), and no reader ever sees half a report.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8).  Raises OSError; the target is then untouched."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        # /dev/stdout, a FIFO, a terminal: nothing to replace, so write through
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return
    target = Path(os.path.realpath(path))  # a symlink stays a symlink; its target changes
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except PermissionError:
        if mode is None:
            raise
        # a writable file in a folder we may not create files in: as before, in place
        target.write_text(text, encoding="utf-8")
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # a full disk shows here at the latest, before the rename
        os.chmod(temp, stat.S_IMODE(mode) if mode is not None else _new_file_mode())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _new_file_mode() -> int:
    """What open() would have given a new file: 0666 less the umask (mkstemp uses 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
