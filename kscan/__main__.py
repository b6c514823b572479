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
import gc
import os
import sys


def run() -> None:
    gc.set_threshold(200_000, 20, 20)  # as main() keeps it; see there
    from kscan.cli import EXIT_USAGE, main

    status = 0
    try:
        main()
    except SystemExit as done:  # main() always ends here, with an int
        status = done.code if isinstance(done.code, int) else EXIT_USAGE
    with contextlib.suppress(BrokenPipeError):  # `kscan mm | head`: nobody reads on
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    run()
