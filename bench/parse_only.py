"""Baseline for bench.py: read and tree-sitter-parse the listed files, nothing else.

Uses the same worker count and batching as kscan, so the ratio measures what kscan
adds on top of parsing (fact extraction, rules, report), not a different setup.
Usage: python bench/parse_only.py --jobs N FILELIST   (one path per line)
"""

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor

import tree_sitter as ts
import tree_sitter_c as tsc

_parser = None


def parse_batch(paths: list[str]) -> int:
    global _parser
    if _parser is None:
        _parser = ts.Parser(ts.Language(tsc.language()))
    nodes = 0
    for path in paths:
        with open(path, "rb") as f:
            nodes += _parser.parse(f.read()).root_node.child_count
    return nodes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("filelist")
    args = ap.parse_args()
    with open(args.filelist) as listing:
        paths = listing.read().split()
    batches = [paths[i : i + 16] for i in range(0, len(paths), 16)]
    if args.jobs <= 1:
        total = sum(map(parse_batch, batches))
    else:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            total = sum(pool.map(parse_batch, batches))
    print(f"parsed {len(paths)} files ({total} top-level nodes)", file=sys.stderr)


if __name__ == "__main__":
    main()
