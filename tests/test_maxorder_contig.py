"""The max-order and contig rule families, the call graph and hotspots.

Fixture findings themselves are checked by test_fixtures.py (the `expect:` comments in
tests/fixtures/tree-6.1, tree-6.5 and tree-6.12); this file covers what annotations
cannot: the override flag, the graph's name resolution, hotspot ranking and exports,
and, marked slow, the real 6.1 and 6.12 trees.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import kscan.facts.workers
from kscan.callgraph.graph import build
from kscan.callgraph.hotspots import rank, subgraph
from kscan.cli import app
from kscan.engine import Options, scan
from kscan.facts.records import Call, Define, FileFacts, Function, Span
from kscan.facts.workers import calls_from_bytes, facts_from_bytes, read_source
from kscan.findings import Finding, Level, Location

FIXTURES = Path(__file__).parent / "fixtures"
TREE_612 = FIXTURES / "tree-6.12"
TREE_61 = FIXTURES / "tree-6.1"


def _fn(name: str, calls=(), static=False, line=1) -> Function:
    span = Span(line, 1, line + 1, 0, 10)
    return Function(name, span, span, static, False, (),
                    calls=tuple(Call(c, "()", 1, 1, 0) for c in calls))


def _findings(path: Path, **options):
    return scan(Options(paths=[str(path)], jobs=1, **options)).result.findings


# -- call graph ----------------------------------------------------------------------


def test_aliasing_macro_leads_to_the_noprof_function():
    header = FileFacts("include/linux/gfp.h")
    header.defines = [Define("alloc_contig_range", ("...",),
                             "alloc_hooks(alloc_contig_range_noprof(__VA_ARGS__))", 3)]
    mm = FileFacts("mm/page_alloc.c", functions=[_fn("alloc_contig_range_noprof")])
    driver = FileFacts("drivers/x.c", functions=[_fn("grab", ["alloc_contig_range"])])
    graph = build([header, mm, driver])
    assert "grab" in graph.callers("alloc_contig_range_noprof")
    assert graph.chain("grab", "alloc_contig_range_noprof") == [
        "grab", "alloc_contig_range", "alloc_contig_range_noprof"]


def test_noprof_convention_without_the_header():
    mm = FileFacts("mm/cma.c", functions=[_fn("cma_alloc_noprof"), _fn("user", ["cma_alloc"])])
    assert "user" in build([mm]).callers("cma_alloc_noprof")


def test_statics_are_per_file_and_globals_clash_into_one_node():
    a = FileFacts("mm/a.c", functions=[_fn("helper", ["cma_alloc"], static=True),
                                       _fn("flush", []), _fn("a_user", ["helper"])])
    b = FileFacts("mm/b.c", functions=[_fn("helper", [], static=True),
                                       _fn("flush", []), _fn("b_user", ["helper"])])
    graph = build([a, b])
    assert graph.callers("cma_alloc") == {"mm/a.c:helper": 1, "a_user": 2}
    assert graph.callees("b_user") == {"mm/b.c:helper": 1}
    assert graph.files("flush") == ("mm/a.c", "mm/b.c")


def _shape(graph) -> dict[str, tuple]:
    """Each node's kind, files, line, direct callees and callers."""
    return {
        name: (graph.kind(name), graph.files(name), graph.line(name),
               sorted(graph.callees(name, 1)), sorted(graph.callers(name, 1)))
        for name in graph.names
    }


def test_graph_grown_file_by_file_equals_one_built_at_once():
    """Prefilter rounds add files to a built graph; the result must not depend on it."""
    header = FileFacts("include/linux/gfp.h")
    alias = "alloc_hooks(cma_alloc_noprof(__VA_ARGS__))"
    header.defines = [Define("cma_alloc", ("...",), alias, 3)]
    cma = FileFacts("mm/cma.c", functions=[_fn("cma_alloc_noprof"), _fn("flush", ["cma_alloc"])])
    user = FileFacts("drivers/u.c", functions=[_fn("flush", ["kick"]), _fn("u", ["flush"])])
    at_once = build([header, cma, user])
    grown = build([user]).add([cma]).add([header])
    assert grown.sites == at_once.sites
    assert _shape(grown) == _shape(at_once)
    assert build([cma]).callers("cma_alloc_noprof") == {"cma_alloc": 1, "flush": 2}
    assert grown.callers("cma_alloc_noprof") == {"cma_alloc": 1, "flush": 2, "u": 3}


def test_graph_scope_tree_reaches_through_callers_outside_the_paths(tmp_path):
    """mm/ calls a driver's wrapper of alloc_contig_range(): only the tree-wide graph
    knows, and the wrapper comes in after the rules' own prefilter rounds."""
    tree = tmp_path / "linux"
    (tree / "include" / "linux").mkdir(parents=True)
    (tree / "mm").mkdir()
    (tree / "drivers").mkdir()
    (tree / "Makefile").write_text((TREE_612 / "Makefile").read_text())
    mmzone = TREE_612 / "include" / "linux" / "mmzone.h"
    (tree / "include" / "linux" / "mmzone.h").write_text(mmzone.read_text())
    (tree / "mm" / "user.c").write_text(
        "int grab_block(unsigned long start)\n{\n"
        "\tunsigned long nr = MAX_ORDER_NR_PAGES;\n\n"
        "\treturn drv_grab(start, start + nr);\n}\n"
    )
    (tree / "drivers" / "grab.c").write_text(
        "int drv_grab(unsigned long s, unsigned long e)\n{\n"
        "\treturn alloc_contig_range(s, e, MIGRATE_MOVABLE, GFP_KERNEL);\n}\n"
    )
    in_paths = _findings(tree / "mm")
    tree_wide = _findings(tree / "mm", graph_scope="tree")
    assert not [f for f in in_paths if f.rule_id == "KS007"]
    assert [(f.rule_id, f.location.function) for f in tree_wide] == [("KS007", "grab_block")]


@pytest.mark.parametrize("tree", [TREE_612, FIXTURES / "demo", TREE_61])
def test_call_facts_give_the_graph_of_every_body(tree):
    """Hotspots read each file's FileCalls, parsed with no kernel-style body: the
    graph is the one every body's facts give."""
    files = [(str(p), p.relative_to(tree).as_posix()) for p in sorted(tree.rglob("*.[ch]"))]
    every_body = build([facts_from_bytes(read_source(path), rel) for path, rel in files])
    calls = build([calls_from_bytes(read_source(path), rel) for path, rel in files])
    assert _shape(calls) == _shape(every_body)
    assert calls.sites == every_body.sites


def test_header_static_inline_is_one_node_for_every_includer():
    header = FileFacts("include/linux/h.h", functions=[_fn("inl", ["cma_alloc"], static=True)])
    user = FileFacts("mm/u.c", functions=[_fn("u", ["inl"])])
    assert "u" in build([header, user]).callers("cma_alloc")


# -- rules ---------------------------------------------------------------------------


def test_override_judges_a_612_patch_by_61_meaning():
    """`order <= MAX_PAGE_ORDER` is right on 6.12 and off by one if backported to 6.1."""
    path = TREE_612 / "mm" / "order_bounds.c"
    native = {(f.rule_id, f.location.function) for f in _findings(path)}
    backport = {(f.rule_id, f.location.function) for f in _findings(path, semantics="exclusive")}
    assert ("KS004", "valid_order") not in native
    assert ("KS004", "valid_order") in backport
    assert ("KS004", "too_big") in backport
    assert ("KS005", "largest_block") in backport
    assert ("KS004", "reject_order") not in backport  # `>=` is right under exclusive
    assert all(f.properties == (("semantics", "exclusive"),)
               for f in _findings(path, semantics="exclusive") if f.family == "max-order")


def test_own_definition_beats_the_override():
    mirror = TREE_61 / "tools" / "testing" / "mirror" / "mirror.c"
    found = _findings(mirror, semantics="exclusive")
    assert [(f.rule_id, f.location.function) for f in found] == [("KS004", "mirror_reject")]
    assert "own definition" in found[0].message


def test_contig_finding_carries_its_call_chain():
    found = [f for f in _findings(TREE_612) if f.rule_id == "KS007"]
    chain = {f.location.function: f.related for f in found}["grab_block"]
    assert [r.message for r in chain] == ["grab_block() calls helper()",
                                          "helper() calls alloc_contig_range()"]
    assert chain[1].location.path == "drivers/contig/grab.c"


def test_static_of_the_same_name_elsewhere_does_not_count():
    found = _findings(TREE_612)
    assert not [f for f in found if f.location.path == "drivers/contig/other.c"]


# -- hotspots and graph export -------------------------------------------------------


def test_hotspots_rank_and_chain():
    result = CliRunner().invoke(app, ["hotspots", str(TREE_612), "--top", "5", "-j", "1"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()[1:6]]
    # KS007's over-alignment is safe by design (low): below what breaks
    assert [row[2] for row in rows] == [
        "stats",
        "bad_count_bound",
        "reject_order",
        "too_large_block",
        "grab_aligned",
    ]
    assert "grab_aligned -> alloc_contig_range" in result.output


def _finding(path: str, function: str) -> Finding:
    return Finding(
        "KS001", "pfn-walk-unchecked", "pfn-walk", Level.MEDIUM, Level.LOW, "walk",
        Location(path, 1, 1, function),
    )


def _rows(graph, findings) -> dict[tuple[str, str], tuple[float, float]]:
    scanned = {path for name in graph.names for path in graph.files(name)}
    return {(s.name, s.path): (s.own, s.below) for s in rank(graph, findings, scanned)}


def test_each_definition_of_an_arch_function_is_its_own_hotspot():
    """mem_init() of each architecture is one node, but a row each, with its own
    findings and those below its own body; generic callers count one architecture's."""
    a = FileFacts("arch/a/mm/init.c", functions=[_fn("mem_init", ["a_highmem"]), _fn("a_highmem")])
    b = FileFacts("arch/b/mm/init.c", functions=[_fn("mem_init", line=7), _fn("b_walk")])
    generic = FileFacts("mm/mm_init.c", functions=[_fn("mm_core_init", ["mem_init"])])
    graph = build([a, b, generic])
    findings = [_finding("arch/a/mm/init.c", "a_highmem"), _finding("arch/b/mm/init.c", "mem_init")]
    assert _rows(graph, findings) == {
        ("a_highmem", "arch/a/mm/init.c"): (2, 0),
        ("mem_init", "arch/a/mm/init.c"): (0, 1),  # below: a_highmem's
        ("mem_init", "arch/b/mm/init.c"): (2, 0),
        ("mm_core_init", "mm/mm_init.c"): (0, 1),  # the worst arch's, not 1 + 1
    }
    assert [s.line for s in rank(graph, findings, {"arch/b/mm/init.c"})] == [7]
    spots = rank(graph, findings, {"arch/a/mm/init.c", "arch/b/mm/init.c"})
    best = max(s.score for s in spots if s.name == "mem_init")
    assert subgraph(graph, spots).nodes["mem_init"]["score"] == best  # the exported node


def test_arch_code_is_credited_with_generic_findings_below_it():
    """A kernel for arch a runs a's code and the generic code it calls, never b's."""
    a = FileFacts("arch/a/mm/init.c", functions=[_fn("a_setup", ["free_all", "helper"])])
    b = FileFacts("arch/b/mm/init.c", functions=[_fn("helper")])
    generic = FileFacts("mm/memblock.c", functions=[_fn("free_all")])
    graph = build([a, b, generic])
    findings = [_finding("mm/memblock.c", "free_all"), _finding("arch/b/mm/init.c", "helper")]
    assert _rows(graph, findings)["a_setup", "arch/a/mm/init.c"] == (0, 1)


def test_the_allocators_reach_stays_in_mm_code():
    """__free_one_page() -> BUG() -> panic() -> ... reaches half the kernel; only the
    paths through memory-management code make a function hot for allocations."""
    mm = FileFacts(
        "mm/page_alloc.c", functions=[_fn("__free_one_page", ["BUG", "mm_walk"]), _fn("mm_walk")]
    )
    bug = FileFacts("include/asm-generic/bug.h")
    bug.defines = [Define("BUG", (), 'do { panic("BUG"); } while (0)', 1)]
    panic = FileFacts("kernel/panic.c", functions=[_fn("panic", ["machine_restart"])])
    reboot = FileFacts("arch/x86/kernel/reboot.c", functions=[_fn("machine_restart")])
    graph = build([mm, bug, panic, reboot])
    findings = [
        _finding("mm/page_alloc.c", "mm_walk"),
        _finding("kernel/panic.c", "panic"),
        _finding("arch/x86/kernel/reboot.c", "machine_restart"),
    ]
    scanned = {finding.location.path for finding in findings}
    alloc = {s.name: s.alloc for s in rank(graph, findings, scanned)}
    assert alloc == {"__free_one_page": True, "mm_walk": True, "panic": True,
                     "machine_restart": False}  # panic() is reached, not walked through


def test_hotspots_count_callers_in_files_the_scan_skips(tmp_path):
    """Who calls a function is read from every file in the paths, not only from those
    the scan's prefilter let through."""
    tree = shutil.copytree(TREE_612, tmp_path / "tree")
    (tree / "mm" / "users.c").write_text(
        "void one_user(struct zone *zone)\n{\n\tstats(zone, 0);\n}\n\n"
        "void other_user(struct zone *zone)\n{\n\tstats(zone, 0);\n}\n"
    )
    result = CliRunner().invoke(app, ["hotspots", str(tree), "--top", "3", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split()[2:7] == [
        "stats", "mm/order_bounds.c:48", "4", "0", "2"]


def test_hotspots_parse_no_body_the_scan_does_not(monkeypatch):
    """The call graph of every file comes from the bytes and the function heads: the
    only bodies `kscan hotspots` parses are those the scan itself parses."""
    parsed = []

    def counting(parser, raw, bodies=None, keep=None):
        parsed.append(len(bodies or ()) if keep is None else sum(keep))
        return real(parser, raw, bodies, keep)

    real = kscan.facts.workers.parse
    monkeypatch.setattr(kscan.facts.workers, "parse", counting)
    assert CliRunner().invoke(app, ["scan", str(TREE_612), "-j", "1", "--no-cache"]).exit_code == 1
    by_scan = sum(parsed)
    parsed.clear()
    hotspots = CliRunner().invoke(app, ["hotspots", str(TREE_612), "-j", "1", "--no-cache"])
    assert hotspots.exit_code == 0, hotspots.output
    assert by_scan and sum(parsed) == by_scan


def on_terminal(args: list[str]) -> str:
    """What `kscan ARGS` writes to a terminal (stdout and stderr on one pty)."""
    main_end, child_end = os.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "kscan", *args], stdin=child_end,
                            stdout=child_end, stderr=child_end, env=env)
    os.close(child_end)
    out = b""
    while True:
        try:
            chunk = os.read(main_end, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(main_end)
    assert proc.wait(timeout=120) == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


@pytest.mark.parametrize("command", ["hotspots", "graph"])
def test_hotspots_and_graph_show_each_stage_on_a_terminal(command):
    shown = on_terminal([command, str(TREE_612), "-j", "1"])
    for stage in ("parsing", "reading calls", "linking the call graph", "ranking"):
        assert stage in shown
    assert "internal error" not in shown
    assert ("grab_aligned -> alloc_contig_range" if command == "hotspots"
            else '"grab_block" -> "drivers/contig/grab.c:helper";') in shown


def test_graph_json_and_dot():
    runner = CliRunner()
    result = runner.invoke(app, ["graph", str(TREE_612), "--format", "json", "-j", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    edges = {(e["caller"], e["callee"]): e["site"] for e in data["edges"]}
    assert edges["grab_block", "drivers/contig/grab.c:helper"] == "drivers/contig/grab.c:24"
    assert {n["id"]: n["kind"] for n in data["nodes"]}["alloc_contig_range"] == "macro"
    dot = runner.invoke(app, ["graph", str(TREE_612), "--format", "dot", "-j", "1"]).output
    assert dot.startswith("digraph hotspots {")
    assert '"grab_block" -> "drivers/contig/grab.c:helper";' in dot
    bad = runner.invoke(app, ["graph", str(TREE_612), "--format", "svg"])
    assert bad.exit_code == 2


# -- real trees (slow) -----------------------------------------------------------------

KERNEL_61 = os.environ.get("KSCAN_KERNEL_6_1")
KERNEL_612 = os.environ.get("KSCAN_KERNEL_6_12")

# The sites upstream fixed just before 6.4 (B1) and the B5 bail-out, as (file, function).
B1_SITES = {
    ("arch/sparc/mm/tsb.c", "tsb_grow"),
    ("arch/um/kernel/um_arch.c", "linux_main"),
    ("drivers/block/floppy.c", None),  # the MAX_LEN #define
    ("drivers/gpu/drm/i915/gem/i915_gem_internal.c", "i915_gem_object_get_pages_internal"),
    ("drivers/misc/genwqe/card_utils.c", "genwqe_alloc_sync_sgl"),
    ("kernel/events/ring_buffer.c", "rb_alloc_aux_page"),
    ("kernel/events/ring_buffer.c", "rb_alloc_aux"),
    ("mm/page_reporting.c", None),  # the page_reporting_order default
    ("mm/slub.c", "calculate_order"),
    ("drivers/iommu/dma-iommu.c", "__iommu_dma_alloc_pages"),
}


def _max_order_findings(root: str):
    paths = sorted({os.path.join(root, path) for path, _ in B1_SITES})
    found = scan(Options(paths=paths, select=["KS004", "KS005", "KS006"])).result.findings
    return {(f.location.path, f.location.function) for f in found}


@pytest.mark.slow
@pytest.mark.skipif(not KERNEL_61, reason="KSCAN_KERNEL_6_1 not set")
def test_61_pre_64_sites_are_reported():
    assert _max_order_findings(KERNEL_61) >= B1_SITES


@pytest.mark.slow
@pytest.mark.skipif(not KERNEL_612, reason="KSCAN_KERNEL_6_12 not set")
def test_612_counterparts_are_silent():
    assert _max_order_findings(KERNEL_612) == set()


@pytest.mark.slow
@pytest.mark.skipif(not KERNEL_612, reason="KSCAN_KERNEL_6_12 not set")
def test_612_callers_of_alloc_contig_range_match_grep():
    """Every call site grep sees (comments and the definition dropped) is a graph edge."""
    paths = [os.path.join(KERNEL_612, p) for p in ("mm", "drivers/virtio", "include/linux")]
    graph = scan(Options(paths=paths, select=["KS007"])).project.callgraph
    callees = ("alloc_contig_range", "alloc_contig_range_noprof")
    sites = {tuple(graph.site(caller, callee)) for caller, callee in graph.sites
             if callee in callees and graph.is_function(caller)}
    grep = subprocess.run(
        ["grep", "-rnE", r"\balloc_contig_range(_noprof)?\(", "mm", "drivers/virtio"],
        cwd=KERNEL_612, capture_output=True, text=True,
    ).stdout.splitlines()
    calls = {(path, int(line)) for path, line, text in (g.split(":", 2) for g in grep)
             if not re.match(r"\s*(\*|/\*|int )", text)}
    assert {path for path, _ in calls} == {"mm/cma.c", "mm/page_alloc.c",
                                           "drivers/virtio/virtio_mem.c"}
    assert calls == sites
    direct = {n.rsplit(":", 1)[-1] for n in graph.callers("alloc_contig_range_noprof", 2)}
    assert {"__cma_alloc", "virtio_mem_fake_offline", "__alloc_contig_pages"} <= direct


def test_contig_alignment_by_max_order_was_needed_before_5_19(tmp_path):
    old = tmp_path / "tree"
    shutil.copytree(TREE_612, old)
    makefile = old / "Makefile"
    text = makefile.read_text().replace("VERSION = 6", "VERSION = 5")
    makefile.write_text(text.replace("PATCHLEVEL = 12", "PATCHLEVEL = 18"))
    findings = scan(Options(paths=[str(old)], jobs=1, kernel_version=None)).result.findings
    contig = [f for f in findings if f.rule_id == "KS007"]
    assert contig and {f.order.use for f in contig} == {"aligns-needed"}
    assert all(f.verdict.reason.startswith("before 5.19") for f in contig)
