"""The `kscan` command (and `python -m kscan`): the process around kscan.cli.main().

The collector is slowed before anything else is imported (at its default it ran 42
times while kscan's modules loaded), and the process leaves with os._exit once stdout
and stderr are flushed, instead of tearing a scan's facts down object by object (mypy
leaves the same way).  The cache commits as it goes and the worker pool is shut down
by then.  What they buy on `kscan mm/` cold of 6.12 (bench/bench.py --variant, median
of 21 paired runs, busy machine): the collector's threshold (with main()'s) 5% CPU,
os._exit 13% (CPU 1.146x, wall 1.141x without it).
"""

import contextlib
import errno
import gc
import os
import sys
from typing import Any, TextIO


class Output:
    """sys.stdout for the command.  A failed write (a full device, a closed pipe or
    descriptor) is kept, not raised from whichever print() met it, and the rest of the
    output is dropped: run() then says so in one line, or says nothing for a reader that
    went away (`kscan mm | head`)."""

    def __init__(self, stream: TextIO | None) -> None:
        self.error: OSError | None = None
        self._closed = stream is None  # `kscan >&-`: Python gives no sys.stdout at all
        self._stream: TextIO = open(os.devnull, "w") if stream is None else stream  # noqa: SIM115

    def write(self, text: str) -> int:
        if self._closed and text and self.error is None:
            self.error = OSError(errno.EBADF, "standard output is closed")
        if self.error is None:
            try:
                return self._stream.write(text)
            except OSError as err:
                self.error = err
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self._stream.flush()
            except OSError as err:
                self.error = err

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding ... as the stream has them
        return getattr(self._stream, name)


def run() -> None:
    gc.set_threshold(200_000, 20, 20)  # as main() keeps it; see there
    from kscan.cli import EXIT_USAGE, main

    if sys.stderr is None:  # `2>&-`: warnings and errors have nowhere to go
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    out = sys.stdout = Output(sys.stdout)
    status = 0
    try:
        main()
    except SystemExit as done:  # main() always ends here, with an int
        status = done.code if isinstance(done.code, int) else EXIT_USAGE
    except OSError:  # stderr failed as main() reported an error: nowhere left to say it
        status = EXIT_USAGE
    out.flush()
    if out.error is not None and out.error.errno != errno.EPIPE:
        print(f"kscan: error: cannot write the output: {out.error.strerror}", file=sys.stderr)
        status = EXIT_USAGE
    with contextlib.suppress(OSError):  # nowhere left to say it
        sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    run()
