"""Time `kscan PATH` against plain tree-sitter parsing of the same files, in one run.

    python bench/bench.py --tree ~/.cache/kscan/kernels/linux-source-6.12 --path mm --runs 5

Both sides run as whole commands (interpreter start-up included on both), with the
same files and the same number of worker processes, alternating so that machine noise
hits both alike.  Prints every run and the medians; the ratio is median(kscan) /
median(parse-only).  Repeats vary by +-30 % on a shared 2-core machine: quote medians.

Both sides run with Python's bytecode cache on, as an installed kscan does: a sandbox
that sets PYTHONDONTWRITEBYTECODE (this one does) would have kscan recompile its fifty
modules on every run (+0.1 s) and time that instead.  The first kscan run, untimed,
fills the cache.

--spatch adds Coccinelle with one rule (bench/pfn_walk.cocci, KS001's core pattern) on
the same path, when Debian's `coccinelle` package is installed; skipped otherwise.
--warm adds kscan with its facts cache filled (the cold runs use --no-cache), and
--touch FILE (relative to the tree) a warm run right after a comment line is appended
to FILE, which is restored (bytes and mtime) after each such run.

--variant NAME=DIR (repeatable) adds a cold kscan run from another copy of the source
(PYTHONPATH=DIR: DIR/kscan is imported instead), interleaved with the others: an A/B
of one change in one bench, e.g. a speed trick taken out.  Each variant is reported
as the median of its per-run ratio to kscan, for wall and CPU time; pairing the runs
cancels most of what a shared machine adds.

Every command's CPU time (user + system, its worker processes included) is reported
beside its wall time: on a busy machine it moves less.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kscan.discover.files import discover
from kscan.discover.treeinfo import find_root
from kscan.facts.workers import default_jobs

HERE = Path(__file__).resolve().parent


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], cwd: Path, env: dict[str, str] = ENV) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of cmd; CPU counts its waited-for children too."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        sys.exit(
            f"bench: {' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()[-500:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


@contextlib.contextmanager
def edited(path: Path | None):
    """path with a comment line appended, for the length of the block; then restored."""
    if path is None:
        yield
        return
    original, st = path.read_bytes(), path.stat()
    try:
        # a new comment each time: content the cache has not seen
        path.write_bytes(original + b"\n/* kscan bench: edit %d */\n" % time.time_ns())
        yield
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _importable(checkout: Path) -> Path:
    """A folder from which `import kscan` gives the checkout's kscan with its rules.
    The rules sit in the checkout's rules/, which the installed package maps to
    kscan.rules: with PYTHONPATH=checkout alone, the variant would import its own
    engine and the installed kscan's rules.  Here kscan/ is a folder of links to the
    checkout's kscan/ entries, and kscan/rules a link to its rules/."""
    if (checkout / "kscan" / "rules").exists() or not (checkout / "rules").is_dir():
        return checkout
    overlay = Path(tempfile.mkdtemp(prefix="kscan-variant-"))
    package = overlay / "kscan"
    package.mkdir()
    for entry in (checkout / "kscan").iterdir():
        (package / entry.name).symlink_to(entry)
    (package / "rules").symlink_to(checkout / "rules")
    return overlay


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, default=os.environ.get("KSCAN_KERNEL_6_12"))
    ap.add_argument("--path", default="mm", help="what to scan, relative to the tree")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=default_jobs())
    ap.add_argument("--spatch", action="store_true", help="also time spatch (one rule)")
    ap.add_argument("--warm", action="store_true", help="also time kscan with a warm cache")
    ap.add_argument("--touch", metavar="FILE", help="also time a warm run with FILE edited")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also time a cold kscan imported from DIR (repeatable)",
    )
    ap.add_argument("kscan_args", nargs="*", help="extra kscan arguments (after --)")
    args = ap.parse_args()
    if args.tree is None or not (args.tree / "Makefile").is_file():
        sys.exit("bench: pass --tree (scripts/fetch-kernel.sh 6.12 prints one)")
    tree = args.tree.resolve()
    files, _ = discover([str(tree / args.path)], find_root(tree))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(str(f.path) for f in files))
    baseline = [sys.executable, str(HERE / "parse_only.py"), "--jobs", str(args.jobs), listing.name]
    kscan = [
        sys.executable,
        "-m",
        "kscan",
        args.path,
        "-q",
        "--jobs",
        str(args.jobs),
        *args.kscan_args,
    ]
    commands = {"parse-only": baseline, "kscan": [*kscan, "--no-cache"]}
    envs = {}
    timed([*kscan, "--help"], tree)  # compile kscan's bytecode
    for spec in args.variant:
        name, _, where = spec.partition("=")
        if not name or not (Path(where) / "kscan" / "__init__.py").is_file():
            sys.exit(f"bench: --variant {spec!r}: want NAME=DIR with DIR/kscan/__init__.py")
        commands[name] = [*kscan, "--no-cache"]
        envs[name] = {**ENV, "PYTHONPATH": str(_importable(Path(where).resolve()))}
        timed([*kscan, "--help"], tree, envs[name])  # compile its bytecode
    edits = {}
    if args.warm or args.touch:
        commands["kscan-warm"] = kscan
        timed(kscan, tree)  # fill the facts cache
    if args.touch:
        commands["kscan-touched"] = kscan
        edits["kscan-touched"] = tree / args.touch
    if args.spatch:
        spatch = shutil.which("spatch")
        if spatch is None:
            print("spatch not installed (apt-get install coccinelle): skipping it")
        else:
            commands["spatch"] = [
                spatch,
                "--sp-file",
                str(HERE / "pfn_walk.cocci"),
                "--dir",
                args.path,
                "-j",
                str(args.jobs),
                "--very-quiet",
            ]
    size = sum(f.path.stat().st_size for f in files) / 1e6
    print(
        f"{len(files)} files, {size:.1f} MB under {args.path}, {args.jobs} jobs, {args.runs} runs"
    )
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    try:
        for run in range(1, args.runs + 1):
            for name, cmd in commands.items():
                with edited(edits.get(name)):
                    wall, cpu = timed(cmd, tree, envs.get(name, ENV))
                times[name].append(wall)
                cpus[name].append(cpu)
            print(
                f"run {run}: "
                + "  ".join(f"{n} {t[-1]:.2f}s ({cpus[n][-1]:.2f} cpu)" for n, t in times.items())
            )
    finally:
        os.unlink(listing.name)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print("median: " + "  ".join(f"{n} {m:.2f}s" for n, m in medians.items()))
    print("median CPU: " + "  ".join(f"{n} {statistics.median(c):.2f}s" for n, c in cpus.items()))
    for name in envs:
        wall = statistics.median(v / k for v, k in zip(times[name], times["kscan"], strict=True))
        cpu = statistics.median(v / k for v, k in zip(cpus[name], cpus["kscan"], strict=True))
        print(f"variant {name} / kscan, median per run: wall {wall:.3f}x  CPU {cpu:.3f}x")
    base = medians["parse-only"]
    print(
        "ratio to parse-only: "
        + "  ".join(f"{n} {m / base:.2f}x" for n, m in medians.items() if n != "parse-only")
    )
    base_cpu = statistics.median(cpus["parse-only"])
    print(
        "CPU ratio to parse-only: "
        + "  ".join(
            f"{n} {statistics.median(c) / base_cpu:.2f}x"
            for n, c in cpus.items()
            if n != "parse-only"
        )
    )
    if "spatch" in medians:
        print(f"spatch / kscan: {medians['spatch'] / medians['kscan']:.1f}x")


if __name__ == "__main__":
    main()
