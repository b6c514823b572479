"""How kscan's work grows when one dimension of its input doubles.

    python bench/growth.py                      # every dimension in bench/shapes.py
    python bench/growth.py loop-depth functions --doublings 5
    python bench/growth.py --what-if order-uses # `kscan what-if --max-order 15` instead

For each dimension (file size, functions, loops, nesting depth of each shape, calls,
callers, ...) it scans sources of size n, 2n, 4n, ... with `kscan FILE --no-cache -j 1`
in-process and prints, per doubling, how many times the work grew: in steps (the calls
kscan.budget counts: the same on a busy machine as on an idle one) and in CPU seconds
(which also see the work inside tree-sitter and regexes, but vary with the machine's
load: read them as a cross-check).  Linear work grows 2x per doubling; the target is at
most ~2.2x for every dimension.  Each size runs in a fresh process, so that one size's
caches and garbage do not bill the next.  With --what-if the sources go into the mm/ of
a small tree (the demo fixture's Makefile and mmzone.h) and the work measured is a
what-if to order 15, where every what-if class has something to say.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from shapes import DIMENSIONS, Dimension  # noqa: E402

TARGET = 2.2
DEMO = HERE.parent / "tests" / "fixtures" / "demo"  # a tree's Makefile and mmzone.h
WHAT_IF_ORDER = 15  # past a section on x86_64: the section classes speak too


def measure(dimension: Dimension, n: int, what_if: bool = False) -> dict:
    """Steps and CPU seconds of a whole scan (or what-if) of size n, in this process."""
    from kscan.facts.budget import counting_steps

    with tempfile.TemporaryDirectory(prefix="kscan-growth-") as tmp:
        root = Path(tmp)
        if what_if:
            root = root / "linux"
            for name in ("Makefile", "include/linux/mmzone.h"):
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_bytes((DEMO / name).read_bytes())
            root = root / "mm"
            root.mkdir()
        (root / "warm.c").write_text("void f(void)\n{\n}\n")
        paths = _write(root, dimension, n)
        size = sum(p.stat().st_size for p in paths)
        run = _what_if if what_if else _scan
        run([root / "warm.c"])  # imports, compiled queries, model presets
        started = time.process_time()
        run(paths)
        seconds = time.process_time() - started
        with counting_steps() as count:
            run(paths)
    return {"n": n, "bytes": size, "steps": count.steps, "seconds": seconds}


def _scan(targets: list[Path]) -> None:
    """What `kscan TARGETS -f json` does: the scan, the hotspot rows, the report."""
    from kscan.callgraph.hotspots import report_rows
    from kscan.engine import Options, scan
    from kscan.report import render

    options = Options(paths=[str(p) for p in targets], jobs=1, kernel_version="6.12", cache=False)
    done = scan(options)
    done.result.hotspots = report_rows(done.project, done.result.findings)
    render(done.result, "json", color=False)


def _what_if(targets: list[Path]) -> None:
    """What `kscan what-if --max-order 15 -f json TARGETS` does."""
    from kscan.report import render_what_if
    from kscan.whatif.run import what_if

    result = what_if([str(p) for p in targets], WHAT_IF_ORDER, "x86_64", jobs=1)
    render_what_if(result, "json")


def _write(root: Path, dimension: Dimension, n: int) -> list[Path]:
    if not dimension.files:
        path = root / "shape.c"
        path.write_text(dimension.make(n))
        return [path]
    one = dimension.make(1)
    folder = root / "tree"
    folder.mkdir()
    for i in range(n):
        (folder / f"file{i}.c").write_text(one)
    return [folder]


def measured(name: str, n: int, timeout: float, what_if: bool = False) -> dict | None:
    """measure() in a fresh process; None when it takes longer than timeout."""
    cmd = [sys.executable, __file__, "--one", name, str(n), *(["--what-if"] if what_if else [])]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=os.environ)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"{name} n={n} failed: {done.stderr[-800:]}")
    return json.loads(done.stdout)


def growth(name: str, doublings: int, timeout: float, what_if: bool = False) -> list[dict]:
    dimension = next(d for d in DIMENSIONS if d.name == name)
    rows = []
    for k in range(doublings + 1):
        row = measured(name, dimension.start << k, timeout, what_if)
        if row is None:
            rows.append({"n": dimension.start << k, "timeout": timeout})
            break
        rows.append(row)
    return rows


def factors(rows: list[dict], key: str) -> list[float | None]:
    out = []
    for a, b in zip(rows, rows[1:], strict=False):
        if "timeout" in b:
            out.append(None)
        else:
            out.append(b[key] / a[key] if a[key] else float("inf"))
    return out


def _cell(value: float | None) -> str:
    return ">timeout" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dimensions", nargs="*", help="names from bench/shapes.py (default: all)")
    parser.add_argument("--doublings", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=120, help="seconds per size")
    parser.add_argument("--what-if", action="store_true", help="time `kscan what-if`, not a scan")
    parser.add_argument("--one", nargs=2, metavar=("NAME", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        name, n = args.one
        dimension = next(d for d in DIMENSIONS if d.name == name)
        print(json.dumps(measure(dimension, int(n), args.what_if)))
        return
    names = args.dimensions or [d.name for d in DIMENSIONS]
    header = f"{'dimension':<22} {'n':>13}  {'steps/doubling':<30} {'CPU s/doubling':<30}"
    print(header + " last (steps, s)")
    worst = 0.0
    for name in names:
        try:
            rows = growth(name, args.doublings, args.timeout, args.what_if)
        except RuntimeError as err:
            print(f"{name:<22} failed: {str(err).strip().splitlines()[-1]}", flush=True)
            worst = float("inf")
            continue
        by_steps, by_seconds = factors(rows, "steps"), factors(rows, "seconds")
        done = [r for r in rows if "timeout" not in r]
        last = done[-1]
        span = f"{rows[0]['n']}..{rows[-1]['n']}"
        print(
            f"{name:<22} {span:>13}  {' '.join(map(_cell, by_steps)):<30} "
            f"{' '.join(map(_cell, by_seconds)):<30} {last['steps']}, {last['seconds']:.2f}",
            flush=True,
        )
        worst = max([worst, *(f if f is not None else float("inf") for f in by_steps[-2:])])
    print(f"worst steps growth over the last two doublings: {worst:.2f}x (target {TARGET}x)")


if __name__ == "__main__":
    main()
