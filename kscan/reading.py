"""Files a user hands kscan (a source, a patch, a layout, a baseline, the config): read
only when they are regular files.  A named pipe waits for a writer and a device may
never end (/dev/zero), so either is refused as `not a regular file`, without waiting
even to open it.  Errors are OSError, as the callers already turn into one line."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

PathLike = str | os.PathLike[str]


def read_bytes(path: PathLike, limit: int | None = None) -> bytes:
    """The file's bytes; `limit`: refuse a larger file (EFBIG, sizes in MB)."""
    with _regular(path, "rb", limit) as f:
        data: bytes = f.read()
    return data


def read_head(path: PathLike, size: int) -> bytes:
    """The file's first `size` bytes."""
    with _regular(path, "rb") as f:
        data: bytes = f.read(size)
    return data


def read_text(path: PathLike) -> str:
    """The file's text, UTF-8, newlines as Python reads them."""
    with _regular(path, "r") as f:
        text: str = f.read()
    return text


@contextmanager
def _regular(path: PathLike, mode: str, limit: int | None = None) -> Iterator[IO[Any]]:
    encoding = None if "b" in mode else "utf-8"
    with open(path, mode, encoding=encoding, opener=_without_waiting) as f:
        status = os.fstat(f.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if limit is not None and status.st_size > limit:
            size, most = status.st_size >> 20, limit >> 20
            raise OSError(errno.EFBIG, f"file too large ({size} MB; the limit is {most} MB)")
        yield f


def _without_waiting(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK)  # no effect on a regular file
