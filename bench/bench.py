"""Time `kscan PATH` against plain tree-sitter parsing of the same files, in one run.

    python bench/bench.py --tree ~/.cache/kscan/kernels/linux-source-6.12 --path mm --runs 5

Both sides run as whole commands (interpreter start-up included on both), with the
same files and the same number of worker processes, alternating so that machine noise
hits both alike.  Prints every run and the medians; the ratio is median(kscan) /
median(parse-only).  Repeats vary by +-30 % on a shared 2-core machine: quote medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kscan.discover import discover
from kscan.treeinfo import find_root
from kscan.workers import default_jobs

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"bench: {' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, default=os.environ.get("KSCAN_KERNEL_6_12"))
    ap.add_argument("--path", default="mm", help="what to scan, relative to the tree")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=default_jobs())
    ap.add_argument("kscan_args", nargs="*", help="extra kscan arguments (after --)")
    args = ap.parse_args()
    if args.tree is None or not (args.tree / "Makefile").is_file():
        sys.exit("bench: pass --tree (scripts/fetch-kernel.sh 6.12 prints one)")
    tree = args.tree.resolve()
    files, _ = discover([str(tree / args.path)], find_root(tree))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(str(f.path) for f in files))
    baseline = [sys.executable, str(HERE / "parse_only.py"), "--jobs", str(args.jobs), listing.name]
    kscan = [sys.executable, "-m", "kscan", args.path, "-q", "--jobs", str(args.jobs), *args.kscan_args]
    size = sum(f.path.stat().st_size for f in files) / 1e6
    print(f"{len(files)} files, {size:.1f} MB under {args.path}, {args.jobs} jobs, {args.runs} runs")
    parse_times, kscan_times = [], []
    try:
        for run in range(1, args.runs + 1):
            parse_times.append(timed(baseline, tree))
            kscan_times.append(timed(kscan, tree))
            print(f"run {run}: parse-only {parse_times[-1]:.2f}s  kscan {kscan_times[-1]:.2f}s")
    finally:
        os.unlink(listing.name)
    p, k = statistics.median(parse_times), statistics.median(kscan_times)
    print(f"median: parse-only {p:.2f}s  kscan {k:.2f}s  ratio {k / p:.2f}x")


if __name__ == "__main__":
    main()
