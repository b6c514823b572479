"""The `kscan` command (and `python -m kscan`): the process around kscan.cli.main().

The collector is slowed before anything else is imported (at its default it ran 42
times, 5 ms, while kscan's modules loaded), and the process leaves with os._exit once
stdout and stderr are flushed: tearing a scan's facts down object by object took 10 ms
after a scan of mm/ (mypy leaves the same way).  The cache commits as it goes and the
worker pool is shut down by then.
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
