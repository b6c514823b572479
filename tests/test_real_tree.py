"""kscan on real kernel trees: `kscan mm/ -f json` from the tree root, as a user runs it.

Slow, and skipped unless a tree is named by KSCAN_KERNEL_6_12 / KSCAN_KERNEL_6_1 (the
path to an unpacked source tree).  pyproject's addopts deselect slow tests; run them with

    KSCAN_KERNEL_6_12=... KSCAN_KERNEL_6_1=... pytest -m slow tests/test_real_tree.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# (env var, Makefile version prefix, MAX_ORDER semantics the tree must be read as)
TREES = {
    "6.12": ("KSCAN_KERNEL_6_12", "6.12", "inclusive-renamed"),
    "6.1": ("KSCAN_KERNEL_6_1", "6.1", "exclusive"),
}

# The page_owner walks that validate a pageblock (or MAX_ORDER block) once and then
# touch every PFN in it: present in both eras, and the reason KS002 exists.
PAGE_OWNER_BLOCK_WALKS = (
    "read_page_owner",
    "init_pages_in_zone",
    "pagetypeinfo_showmixedcount_print",
)

# Whole-scan wall-clock bound, process start-up included (~15 s on 2 CPUs today).
MAX_SECONDS = 60


@dataclass(frozen=True)
class Run:
    tree: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def report(self) -> dict:
        return json.loads(self.stdout)


def tree_path(version: str) -> Path:
    env, _, _ = TREES[version]
    value = os.environ.get(env)
    if not value:
        pytest.skip(f"{env} is not set")
    tree = Path(value).expanduser()
    if not (tree / "mm").is_dir() or not (tree / "Makefile").is_file():
        pytest.skip(f"{env}={value} is not an unpacked kernel tree")
    return tree


@pytest.fixture(scope="module", params=sorted(TREES), ids=lambda v: f"linux-{v}")
def kernel(request) -> tuple[str, Run]:
    """One `kscan mm/ -f json` per tree, shared by the tests below."""
    version = request.param
    tree = tree_path(version)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "kscan", "mm/", "-f", "json"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=10 * MAX_SECONDS,
    )
    seconds = time.monotonic() - started
    return version, Run(tree, proc.returncode, proc.stdout, proc.stderr, seconds)


def test_scan_exits_on_breaks_only_without_traceback(kernel):
    _, run = kernel
    assert "Traceback" not in run.stderr, run.stderr[-4000:]
    assert run.stdout.lstrip().startswith("{")
    breaks = [f for f in run.report["findings"] if f["verdict"]["kind"] == "breaks"]
    assert run.returncode == (1 if breaks else 0), run.stderr[-4000:]


def test_every_finding_has_a_verdict_and_every_walk_its_origin(kernel):
    _, run = kernel
    findings = run.report["findings"]
    assert findings and all(f["verdict"] for f in findings)
    walks = [f for f in findings if f["walk"]]
    assert walks and all(f["verdict"]["origin"] and f["verdict"]["chain"] for f in walks)


def test_no_pfn_walk_of_mm_is_said_to_break(kernel):
    """Every mm/ PFN walk the scan reports was read by hand (the closing note of #14):
    the range of each comes from somewhere the kernel promises a memmap."""
    _, run = kernel
    walks = [f for f in run.report["findings"] if f["rule_id"] in ("KS001", "KS002")]
    assert walks and not [f for f in walks if f["verdict"]["kind"] == "breaks"]


def test_scan_finishes_in_time(kernel):
    version, run = kernel
    print(f"\nlinux-{version}: kscan mm/ took {run.seconds:.1f}s")
    assert run.seconds < MAX_SECONDS


def test_report_validates(kernel, report_validator):
    _, run = kernel
    report = run.report
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in report_validator.iter_errors(report)]
    assert errors == []
    stats = report["stats"]
    assert stats["files"] > 100  # mm/ has well over a hundred .c/.h files
    assert stats["skipped"] == 0
    assert stats["functions"] > 1000


def test_tree_is_identified(kernel):
    version, run = kernel
    _, prefix, semantics = TREES[version]
    tree = run.report["tree"]
    assert Path(tree["root"]).resolve() == run.tree.resolve()
    assert tree["kernel_version"] == prefix or tree["kernel_version"].startswith(prefix + ".")
    assert tree["max_order_semantics"] == semantics
    assert tree["semantics_source"].startswith("include/linux/mmzone.h:")


def test_paths_are_relative_to_the_tree(kernel):
    _, run = kernel
    paths = {f["path"] for f in run.report["findings"]}
    assert paths
    assert all(p.startswith("mm/") for p in paths), sorted(paths)[:5]
    assert all((run.tree / p).is_file() for p in paths)


def test_page_owner_block_walks_are_reported(kernel):
    _, run = kernel
    flagged = {
        f["function"]
        for f in run.report["findings"]
        if f["path"] == "mm/page_owner.c" and f["rule_id"] == "KS002"
    }
    assert set(PAGE_OWNER_BLOCK_WALKS) <= flagged


# --- kscan what-if on the whole tree -------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(TREES), ids=lambda v: f"linux-{v}")
def what_if(request) -> tuple[str, dict]:
    """`kscan what-if --max-order 18 -f json` from the tree's top (x86_64), per tree."""
    version = request.param
    proc = subprocess.run(
        [sys.executable, "-m", "kscan", "what-if", "--max-order", "18", "-f", "json", "-q"],
        cwd=tree_path(version),
        capture_output=True,
        text=True,
        timeout=10 * MAX_SECONDS,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    return version, json.loads(proc.stdout)


def test_what_if_lists_every_class_and_the_section_guard(what_if):
    version, report = what_if
    assert report["question"]["macro_value"] == (19 if version == "6.1" else 18)
    assert all(report["counts"][f"WI{i}"] for i in range(1, 8)), report["counts"]
    firing = {g["path"] for g in report["guards"] if g["fires"]}
    assert firing == {"include/linux/mmzone.h"}
    functions = {s["function"] for s in report["sites"] if s["class"] == "WI1"}
    assert {"__free_one_page", "find_buddy_page_pfn", "expand"} <= functions
    chunks = {s["function"] for s in report["sites"] if s["class"] == "WI3"}
    assert {"read_page_owner", "memblock_free_pages"} <= chunks
    walks = {"__move_freepages_block", "move_freepages", "__test_page_isolated_in_pageblock"}
    assert not {s["function"] for s in report["sites"]} & walks  # pageblocks stay pageblocks
    paths = {s["path"] for s in report["sites"]}  # arm64-only drivers are not x86_64's
    assert not {p for p in paths if "hisilicon" in p or p.startswith("arch/arm64")}
