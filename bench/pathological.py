"""The inputs issue #18 reported as never finishing, written out and scanned.

    python bench/pathological.py DIR            # write them into DIR and time kscan on each
    python bench/pathological.py DIR --write    # only write them

- one function with 5,000 nested `for` loops over PFNs;
- 150,000 small functions with a PFN walk each (17 MB), and 40,000 (4.5 MB); 150,000
  whose walks check pfn_valid() (21 MB), and 150,000 whose loops walk no PFN (15 MB);
- 20,000 of them on one line (2.3 MB, minified code: each finding carried the line);
- 5,000-deep nesting of other shapes: ifs, else-ifs, ?:, braces, parentheses, calls,
  do and while loops, iterator macros of each shape tree-sitter gives them.

Each file is scanned alone (`kscan FILE --no-cache -j 1 -q -f json`) in a fresh process:
wall seconds, kscan's exit status and its peak memory, and beside them the seconds a
plain tree-sitter parse of the file takes.  Seconds on a busy machine are
rough; bench/growth.py counts steps.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import shapes  # noqa: E402

DEPTH = 5000

INPUTS = {
    "for-nest-5000.c": lambda: shapes.loop_nest_one_variable(DEPTH),
    "for-nest-5000-vars.c": lambda: shapes.loop_nest(DEPTH),
    "functions-150k.c": lambda: shapes.functions(150_000),
    "functions-40k.c": lambda: shapes.functions(40_000),
    "checked-functions-150k.c": lambda: shapes.checked_functions(150_000),
    "plain-functions-150k.c": lambda: shapes.plain_functions(150_000),
    "one-line-20k.c": lambda: shapes.functions(20_000).replace("\n", " "),
    **{
        f"{name}-{DEPTH}.c": (lambda make=make: make(DEPTH))
        for name, make in (
            ("if-nest", shapes.if_nest),
            ("held-check", shapes.held_check_nest),
            ("else-if", shapes.else_if_chain),
            ("ternary", shapes.ternary_chain),
            ("ternary-in-condition", shapes.ternary_in_condition),
            ("condition", shapes.long_condition),
            ("braces", shapes.brace_nest),
            ("parens", shapes.paren_nest),
            ("calls", shapes.call_nest),
            ("do-nest", shapes.do_nest),
            ("while-nest", shapes.while_nest),
            ("unbraced-for", shapes.unbraced_loop_nest),
            ("mem-range-macros", shapes.macro_loop_nest),
            ("list-macros", shapes.list_macro_nest),
            ("zone-macros", shapes.zone_macro_nest),
            ("switch", shapes.switch_nest),
            ("ifdef", shapes.ifdef_nest),
        )
    },
}


# A plain tree-sitter parse of the file, in a process of its own, as kscan is timed:
# the floor "a few seconds" is read against.
_PARSE = (
    "import sys, tree_sitter as ts, tree_sitter_c as tsc\n"
    "ts.Parser(ts.Language(tsc.language())).parse(open(sys.argv[1], 'rb').read())"
)


def parse_seconds(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", _PARSE, str(path)], check=True)
    return time.perf_counter() - started


def scan(path: Path, timeout: float) -> tuple[str, str, float]:
    """(wall seconds, exit status, peak memory in MB) of kscan on one file."""
    cmd = [sys.executable, "-m", "kscan", str(path), "--no-cache", "-j", "1", "-q", "-f", "json"]
    cmd += ["--kernel-version", "6.12"]
    started = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - started > timeout:
            child.kill()
            child.wait()
            return f">{timeout:.0f}", "killed", 0.0
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    return f"{seconds:.1f}", str(os.waitstatus_to_exitcode(status)), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dir", type=Path)
    parser.add_argument("--write", action="store_true", help="write the files, scan nothing")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, make in INPUTS.items():
        path = args.dir / name
        path.write_text(make())
        if args.write:
            continue
        seconds, status, peak = scan(path, args.timeout)
        size = path.stat().st_size / 1e6
        print(
            f"{name:<32} {size:6.1f} MB  {seconds:>6} s  exit {status}  peak {peak:.0f} MB"
            f"  (parse alone {parse_seconds(path):.1f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
