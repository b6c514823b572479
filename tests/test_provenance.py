"""Range provenance: every walk's range traced to its origin, with the chain that leads
there.  tests/fixtures/provenance/ holds a case for each origin class, and a case for
its other side; each walk is annotated `/* expect: KS001 (origin, verdict) */`."""

import re
from pathlib import Path

import pytest

from kscan.analysis.provenance import trace
from kscan.analysis.provenance.origins import ORIGINS
from kscan.discover.treeinfo import read_tree_info
from kscan.engine import Options, scan
from kscan.findings import Level
from kscan.model.judge import per_architecture

TREE = Path(__file__).parent / "fixtures" / "provenance"
ANNOTATION = re.compile(r"expect:\s*(KS\d{3})\s*\(([\w-]+),\s*([\w-]+)\)")


def annotated() -> dict[tuple[str, int], tuple[str, str, str]]:
    found = {}
    for path in sorted(TREE.rglob("*.c")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if match := ANNOTATION.search(line):
                found[(path.relative_to(TREE).as_posix(), number)] = match.groups()
    return found


@pytest.fixture(scope="module")
def findings():
    result = scan(Options(paths=[str(TREE)], jobs=1, cache=False)).result
    return {(f.location.path, f.location.line): f for f in result.findings}


def test_every_origin_class_has_its_cases():
    origins = [origin for _, origin, _ in annotated().values()]
    for origin in ORIGINS:
        assert origin in origins, f"no fixture walk is judged by {origin}"


@pytest.mark.parametrize("where", sorted(annotated()), ids=lambda w: f"{w[0]}:{w[1]}")
def test_the_worst_route_has_the_annotated_origin(findings, where):
    rule, origin, _ = annotated()[where]
    finding = findings[where]
    assert finding.rule_id == rule
    assert finding.provenance.routes[0].origin == origin


def chain_of(finding, origin):
    route = next(r for r in finding.provenance.routes if r.origin == origin)
    return [(step.location.function, step.message) for step in route.chain]


def test_a_chain_climbs_through_two_helpers_to_the_iterator(findings):
    steps = chain_of(findings[("mm/spans.c", 39)], "memblock-memory")
    assert [function for function, _ in steps] == [
        "init_zone_pages",
        "init_zone_range",
        "init_zones",
        "init_zones",
    ]
    assert steps[1][1] == (
        "init_zone_range() calls init_zone_pages() with `start_pfn` = `start_pfn`"
    )
    assert "for_each_mem_pfn_range(i, nid, &start_pfn, &end_pfn, NULL)" in steps[-1][1]


def test_a_callback_is_traced_through_its_ops_table(findings):
    steps = chain_of(findings[("mm/objects.c", 65)], "allocated")
    assert steps[1] == (None, "release_cb() is registered as .release")
    assert steps[2] == (
        "release_through",
        "release_through() calls release_cb() with `pfn` = `page_to_pfn(page)`",
    )


def test_callers_that_disagree_each_keep_their_route(findings):
    routes = findings[("mm/objects.c", 28)].provenance.routes
    by_origin = {r.origin: r.chain[1].location.function for r in routes}
    assert by_origin == {"node-span": "drop_node", "allocated": "drop_folio"}


def test_a_range_narrowed_by_clamp_keeps_the_narrower_origin(findings):
    # init_zone_range clamps a memblock range into the zone: no zone-span route
    origins = {r.origin for r in findings[("mm/spans.c", 39)].provenance.routes}
    assert origins == {"memblock-memory"}


def test_where_the_trace_stops_is_said(findings):
    exported = findings[("mm/unknown.c", 11)].provenance.routes[0]
    assert exported.evidence == "`start` of lock_pfn_range(): no caller in the scanned files"
    unexplained = findings[("mm/unknown.c", 21)].provenance.routes[0]
    assert unexplained.evidence == "`thing_first_pfn(thing)` in unlock_first() not recognised"
    assert unexplained.chain[-1].location.function == "unlock_first"


def test_callers_deeper_than_the_bound_are_not_followed(tmp_path, monkeypatch):
    (tmp_path / "mm").mkdir()
    chain = "".join(
        f"void level{n}(unsigned long pfn)\n{{\n\tlevel{n - 1}(pfn);\n}}\n\n" for n in range(1, 7)
    )
    (tmp_path / "mm" / "deep.c").write_text(
        "void level0(unsigned long start)\n{\n\tunsigned long pfn;\n\n"
        "\tfor (pfn = start; pfn < start + 8; pfn++)\n\t\ttouch(pfn_to_page(pfn));\n}\n\n"
        + chain
        + "void top(struct zone *zone)\n{\n\tlevel6(zone->zone_start_pfn);\n}\n"
    )
    monkeypatch.setattr(trace, "MAX_DEPTH", 3)
    (finding,) = scan(Options(paths=[str(tmp_path)], jobs=1, cache=False)).result.findings
    (route,) = finding.provenance.routes
    assert route.origin == "unknown"
    assert route.evidence == (
        "`pfn` of level3(): callers more than 3 calls above the walk are not traced"
    )


# -- verdicts from origin x geometry ---------------------------------------------------


@pytest.mark.parametrize("where", sorted(annotated()), ids=lambda w: f"{w[0]}:{w[1]}")
def test_the_model_judges_each_walk_by_its_worst_route(findings, where):
    _, origin, verdict = annotated()[where]
    finding = findings[where]
    assert (finding.verdict.origin, finding.verdict.kind) == (origin, verdict)
    assert finding.verdict.chain == next(
        r.chain for r in finding.provenance.routes if r.origin == origin
    )
    assert (finding.severity == Level.LOW) == verdict.startswith("safe")


def test_no_two_walks_in_different_functions_share_a_witness(findings):
    breaking = [f for f in findings.values() if f.verdict.kind == "breaks"]
    assert len({f.location.function for f in breaking}) == len(breaking) > 5
    assert len({f.verdict.reason for f in breaking}) == len(breaking)
    for finding in breaking:
        assert f"{finding.location.function}()" in finding.verdict.reason


def test_a_span_witness_names_the_span_the_bad_pfns_and_the_chain(findings):
    reason = findings[("mm/spans.c", 22)].verdict.reason
    assert reason == (
        "arm64 4K, mark_node_range() walks node 1 [0x880000, 0x980000) "
        "(pgdat->node_start_pfn, via mark_node()), which holds offline memory block "
        "[0x960000, 0x980000); pfn_to_page() at 0x960000 reads a poisoned struct page; "
        "1 other route: 1 breaks"
    )


def test_a_contract_names_the_contract_and_the_chain(findings):
    verdict = findings[("mm/spans.c", 39)].verdict
    assert verdict.preset == "any"
    assert verdict.reason == (
        "memblock.memory regions are RAM, and every pfn in them has an initialised "
        "struct page: for_each_mem_pfn_range(i, nid, &start_pfn, &end_pfn, NULL), "
        "via init_zone_range() <- init_zones(); 1 other route: 1 safe-by-contract"
    )


def test_the_worst_route_is_named_where_callers_disagree(findings):
    verdict = findings[("mm/objects.c", 28)].verdict
    assert verdict.origin == "node-span"
    assert "via drop_node()" in verdict.reason
    assert verdict.reason.endswith("; 1 other route: 1 safe-by-contract")


def test_a_bound_keeps_its_own_parentheses(findings):
    (route,) = [
        r for r in findings[("mm/reserved.c", 21)].provenance.routes if r.origin != "reservation"
    ]
    assert route.evidence == "zone_end_pfn(zone)"


def test_a_user_input_witness_names_a_pfn_the_user_can_choose(findings):
    assert findings[("mm/user.c", 15)].verdict.reason == (
        "arm64 4K, poison_write() walks from a pfn user space chooses "
        "(kstrtoul_from_user(ubuf, count, 0, &pfn)), such as 0x100000 in absent sections "
        "[0x100000, 0x880000); pfn_to_page() at 0x100000 finds no memmap behind it"
    )


DEMO = Path(__file__).parent / "fixtures" / "demo"


@pytest.fixture(scope="module")
def demo():
    result = scan(Options(paths=[str(DEMO)], jobs=1, cache=False)).result
    return {f.location.function: f for f in result.findings}


def test_every_walk_of_every_pfn_and_page_rule_carries_its_provenance(demo):
    walks = [f for f in demo.values() if f.rule_id in ("KS001", "KS002", "KS003")]
    assert walks and all(f.provenance and f.verdict.origin for f in walks)


def test_a_block_walk_is_judged_by_the_block_its_check_validates(demo):
    verdict = demo["scan_blocks"].verdict
    assert (verdict.kind, verdict.origin) == ("safe-by-design", "block")
    assert verdict.reason.startswith(
        "scan_blocks() walks one pageblock (validity is checked once per block by the "
        "enclosing loop): "
    )
    assert [step.message for step in verdict.chain] == [
        "walks `for (i = 0; i < pageblock_nr_pages; ...)`",
        "the block-level check",
    ]


def test_a_struct_page_walk_is_judged_by_its_geometry_whatever_its_origin(demo):
    hugetlb = demo["hugetlb_flush_folio"]  # hugetlb code holds gigantic folios
    assert (hugetlb.verdict.kind, hugetlb.verdict.preset) == ("breaks", "x86_64:sparsemem")
    assert hugetlb.verdict.origin == "allocated"
    assert hugetlb.verdict.chain[-1].message == "`page = &folio->page`"
    folio = demo["flush_cache_folio"]  # elsewhere a folio is gigantic only if one reaches it
    assert (folio.verdict.kind, folio.verdict.preset) == ("unknown", "x86_64:sparsemem")
    assert "only if it is a gigantic hugetlb folio (1 GiB, over sections of 128 MiB)" in (
        folio.verdict.reason
    )
    block = demo["clear_max_block"]  # a MAX_ORDER block from its head fits in a section
    assert (block.verdict.kind, block.verdict.origin) == ("safe-by-design", "unknown")


def test_code_under_arch_is_judged_under_its_architectures_presets(findings):
    assert findings[("arch/powerpc/mm/spans.c", 10)].verdict.preset == "ppc64"
    mips = findings[("arch/mips/mm/spans.c", 10)].verdict  # no preset: no mips layout
    assert (mips.kind, mips.preset) == ("unknown", "arm64-4k")
    assert mips.reason.startswith(
        "kscan has no preset, so no memory layout, of arch/mips and cannot say the walk "
        "breaks there; it breaks under another architecture's layout: arm64 4K, "
    )
    tree = read_tree_info(TREE)
    presets = per_architecture(tree)
    assert [m.preset for m in presets("arch/arm64/mm/init.c")] == [
        "arm64-4k",
        "arm64-64k",
        "arm64-16k",
    ]
    assert [m.preset for m in presets("arch/powerpc/mm/mem.c")] == ["ppc64", "ppc64-4k"]
    assert presets("mm/cma.c") is None and presets("arch/Kconfig") is None
    assert presets("arch/mips/mm/init.c") == []


def test_a_chosen_preset_judges_every_file():
    result = scan(Options(paths=[str(TREE / "arch")], jobs=1, cache=False, model_preset="s390"))
    assert {f.verdict.preset for f in result.result.findings} == {"s390"}
