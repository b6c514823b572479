"""Verdicts per walk extent and era on the default presets, with their witnesses."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from model_toy import TOY, toy_layout

from kscan.findings import Level, Verdict, Walk
from kscan.model import PRESETS, ModelContext
from kscan.model.crosscheck import (
    BREAKS,
    SAFE,
    UNKNOWN,
    _judge,
    newly_breaking,
    severity_for,
    verdict_for_bytes,
    verdict_for_order,
    verdict_for_order_use,
    verdict_for_walk,
)

BLOCK = Walk("block", "pfn", "block")
PAGEBLOCK = Walk("pageblock", "pfn", "pageblock")
SECTION = Walk("section", "pfn", "section")
ZONE_SPAN = Walk("zone-span", "pfn", None)
CALLER_RANGE = Walk("caller-range", "pfn", None)
ZONE_SPAN_PER_PAGEBLOCK = Walk("zone-span", "pfn", "pageblock")
HUGE_PAGE_POINTER = Walk("huge-page", "page", None)
CALLER_RANGE_POINTER = Walk("caller-range", "page", None)


def ctx(name: str, before_5_15: bool = False) -> ModelContext:
    return ModelContext.for_preset(name, holes_in_zone_era=before_5_15)


def judge(walk: Walk, name: str, before_5_15: bool = False) -> Verdict:
    return verdict_for_walk(walk, ctx(name, before_5_15))


# --- head-validated extents ------------------------------------------------------------


def test_arm64_nomap_hole_inside_a_max_order_block_before_5_15():
    assert judge(BLOCK, "arm64-4k", before_5_15=True) == Verdict(
        BREAKS,
        "arm64-4k",
        "arm64 4K before 5.15, MAX_ORDER block [0x80000, 0x80400) holds NOMAP hole "
        "[0x80200, 0x80240); pfn_to_page() at 0x80200 reads an uninitialised struct page",
    )


@pytest.mark.parametrize(
    ("walk", "witness"),
    [
        (PAGEBLOCK, "pageblock [0x80200, 0x80400) holds NOMAP hole [0x80200, 0x80240)"),
        (SECTION, "section [0x80000, 0x88000) holds NOMAP hole [0x80200, 0x80240)"),
        (Walk("block", "pfn", "pageblock"), "pageblock [0x80200, 0x80400)"),  # the finer check
    ],
)
def test_smaller_units_before_5_15(walk, witness):
    verdict = judge(walk, "arm64-4k", before_5_15=True)
    assert verdict.kind == BREAKS and witness in verdict.reason


def test_a_layout_file_judges_like_the_built_in_layout():
    layouts = Path(__file__).parent.parent / "fixtures" / "layouts"
    from_file = ModelContext.from_layout_file(
        layouts / "arm64-server.toml", PRESETS["arm64-4k"], holes_in_zone_era=True
    )
    built_in = ctx("arm64-4k", before_5_15=True)
    for walk in (BLOCK, ZONE_SPAN, CALLER_RANGE):
        assert verdict_for_walk(walk, from_file) == verdict_for_walk(walk, built_in)


def test_x86_low_hole_before_5_15():
    verdict = judge(BLOCK, "x86_64", before_5_15=True)
    assert verdict.kind == BREAKS
    assert "MAX_ORDER block [0x0, 0x400) holds hole [0x9f, 0x100)" in verdict.reason
    assert "at 0x9f reads an uninitialised struct page" in verdict.reason


@pytest.mark.parametrize("name", ["x86_64", "arm64-4k", "arm64-16k", "arm64-64k", "riscv"])
@pytest.mark.parametrize("walk", [BLOCK, PAGEBLOCK, SECTION])
def test_head_validated_walks_are_safe_by_design_since_5_15(name, walk):
    verdict = judge(walk, name)
    assert verdict.kind == SAFE
    assert "hole pages of a present section are initialised and reserved" in verdict.reason


def test_safe_reasons_name_the_sizes():
    assert (
        "a MAX_ORDER block (4 MiB) never leaves its section (128 MiB)"
        in judge(BLOCK, "x86_64").reason
    )
    assert "a MAX_ORDER block (16 MiB) is exactly one section" in judge(BLOCK, "ppc64").reason
    assert "a walk of one section stays inside it" in judge(SECTION, "s390").reason


def test_no_hole_inside_a_block_is_unknown_before_5_15():
    verdict = judge(BLOCK, "ppc64", before_5_15=True)
    assert verdict.kind == UNKNOWN and "has none" in verdict.reason


def test_flatmem_is_safe_since_5_15():
    flat = ModelContext(PRESETS["x86_64"].with_memory_model("FLATMEM"), ctx("x86_64").layout)
    assert verdict_for_walk(BLOCK, flat).kind == SAFE
    assert verdict_for_walk(CALLER_RANGE_POINTER, flat).reason.endswith(
        "FLATMEM: mem_map is one array, so page + n is pfn + n"
    )


# --- zone spans and caller ranges -------------------------------------------------------


def test_zone_span_reaches_the_low_hole_before_5_15():
    verdict = judge(ZONE_SPAN, "x86_64", before_5_15=True)
    assert "zone DMA of node 0 [0x0, 0x1000) spans hole [0x9f, 0x100)" in verdict.reason


def test_zone_span_crosses_the_pci_hole_since_5_15():
    verdict = judge(ZONE_SPAN, "x86_64")
    assert verdict == Verdict(
        BREAKS,
        "x86_64",
        "x86_64, zone DMA32 of node 0 [0x1000, 0x100000) spans absent sections "
        "[0x70000, 0x100000); pfn_to_page() at 0x70000 finds no memmap behind it",
    )


def test_caller_range_into_an_offline_block_since_5_15():
    verdict = judge(CALLER_RANGE, "arm64-4k")
    assert verdict.kind == BREAKS
    assert "a caller range inside zone Normal of node 1 [0x880000, 0x980000)" in verdict.reason
    assert "offline memory block [0x960000, 0x980000)" in verdict.reason
    assert verdict.reason.endswith("pfn_to_page() at 0x960000 reads a poisoned struct page")


def test_zone_span_checked_per_pageblock_only_breaks_on_offline_memory():
    # pfn_valid() turns the absent sections away: nothing left to break on x86.
    verdict = judge(ZONE_SPAN_PER_PAGEBLOCK, "x86_64")
    assert verdict.kind == UNKNOWN and "no offline block" in verdict.reason
    # ...but it says yes to offline sections, whose memmap is poisoned (A7).
    verdict = judge(ZONE_SPAN_PER_PAGEBLOCK, "arm64-4k")
    assert "pageblock [0x960000, 0x960200) passes pfn_valid() at its head" in verdict.reason
    # Before 5.15 the NOMAP pageblock's head fails pfn_valid(): the offline block is
    # still the first thing such a walk reads wrongly.
    verdict = judge(ZONE_SPAN_PER_PAGEBLOCK, "arm64-4k", before_5_15=True)
    assert "at 0x960000 reads a poisoned struct page" in verdict.reason


def test_span_without_anything_bad_is_unknown():
    verdict = judge(ZONE_SPAN, "riscv")
    assert verdict.kind == UNKNOWN
    assert "has no absent section or offline block inside a zone span" in verdict.reason


# --- struct page pointer arithmetic ------------------------------------------------------


@pytest.mark.parametrize("walk", [HUGE_PAGE_POINTER, CALLER_RANGE_POINTER])
def test_pointer_walks_are_safe_with_vmemmap(walk):
    verdict = judge(walk, "x86_64")
    assert verdict.kind == SAFE and "SPARSEMEM_VMEMMAP" in verdict.reason


def test_gigantic_page_pointer_walk_breaks_without_vmemmap():
    verdict = judge(HUGE_PAGE_POINTER, "x86_64:sparsemem")
    assert verdict == Verdict(
        BREAKS,
        "x86_64:sparsemem",
        "x86_64 SPARSEMEM, a gigantic page (1 GiB) spans 8 sections of 128 MiB; without "
        "SPARSEMEM_VMEMMAP each section has its own memmap, so page + 1 from pfn 0x7fff "
        "is not pfn 0x8000's struct page",
    )
    assert (
        "a caller range can cross sections of 128 MiB"
        in judge(CALLER_RANGE_POINTER, "x86_64:sparsemem").reason
    )


def test_pointer_walk_inside_a_block_is_safe_without_vmemmap():
    verdict = judge(Walk("block", "page", "block"), "arm64-4k:sparsemem")
    assert verdict.kind == SAFE
    assert "page + n stays inside a MAX_ORDER block" in verdict.reason


def test_huge_page_by_pfn_and_unknown_extent():
    assert judge(Walk("huge-page", "pfn", None), "x86_64:sparsemem").kind == SAFE
    verdict = judge(Walk("unknown", "pfn", None), "x86_64")
    assert verdict.kind == UNKNOWN and "extent is unknown" in verdict.reason


# --- every shape, every preset, both eras ----------------------------------------------

SHAPES = [
    Walk(extent, unit, checked)
    for extent in ("block", "pageblock", "section", "zone-span", "caller-range", "huge-page")
    for unit in ("pfn", "page")
    for checked in (None, "pageblock", "block", "section")
]


@pytest.mark.parametrize("name", [*PRESETS, "x86_64:sparsemem", "arm64-4k:flatmem"])
@pytest.mark.parametrize("before_5_15", [True, False])
def test_every_verdict_is_well_formed(name, before_5_15):
    model = ctx(name, before_5_15)
    for walk in SHAPES:
        verdict = verdict_for_walk(walk, model)
        assert verdict.kind in (BREAKS, SAFE, UNKNOWN)
        assert verdict.preset == model.preset and verdict.reason
        if verdict.kind == BREAKS:
            # A concrete witness: the preset, and PFNs or sizes from this layout.
            assert verdict.reason.startswith(model.title + ", ")
            assert "0x" in verdict.reason


# --- what-if ---------------------------------------------------------------------------


def test_max_order_above_the_section_turns_block_walks_breaking():
    model = ctx("x86_64")
    walks = [PAGEBLOCK, BLOCK, HUGE_PAGE_POINTER, BLOCK]
    changes = newly_breaking(walks, model, model.geometry.with_max_page_order(18))
    assert [c.index for c in changes] == [1, 3]
    assert changes[0].before.kind == SAFE
    assert changes[0].after == Verdict(
        BREAKS,
        "x86_64:max-order-18",
        "x86_64, max order 18, MAX_ORDER block [0x40000, 0x80000) holds absent sections "
        "[0x70000, 0x80000); pfn_to_page() at 0x70000 finds no memmap behind it",
    )


def test_what_if_without_a_witness_in_the_layout_is_unknown():
    model = ModelContext(TOY.with_max_page_order(5), toy_layout(ram=[(0, 64)]))
    verdict = verdict_for_walk(BLOCK, model)
    assert verdict.kind == UNKNOWN
    assert "larger than a section (64 KiB) and can span an absent or offline one" in verdict.reason
    assert newly_breaking([BLOCK], ModelContext(TOY, model.layout), model.geometry) == []


# --- orders ----------------------------------------------------------------------------


def test_orders_against_the_largest_buddy_block():
    model = ctx("x86_64")
    assert verdict_for_order(11, model).reason == (
        "x86_64, asks for order 11 (8 MiB); the largest buddy block here is order 10 (4 MiB)"
    )
    assert verdict_for_order(10, model).kind == SAFE
    assert "allowed, only conservative" in verdict_for_order(9, model).reason
    # A 6.1 tree's MAX_ORDER used as an order (B1): exclusive, so one too many.
    _, value = model.geometry.max_order_macro("exclusive")
    assert verdict_for_order(value, model).kind == BREAKS
    with pytest.raises(ValueError):
        verdict_for_order(-1, model)


def test_what_a_bound_does_with_the_largest_order():
    model = ctx("x86_64")
    assert verdict_for_order_use("rejects", 10, model) == Verdict(
        BREAKS,
        "x86_64",
        "turns away order 10 (4 MiB), the largest buddy block on x86_64: a request for it fails",
    )
    assert verdict_for_order_use("misses", 10, model).reason == (
        "never reaches order 10 (4 MiB), the largest buddy block on x86_64: orders 0..9 only"
    )
    assert verdict_for_order_use("asks", 11, model) == verdict_for_order(11, model)


def test_a_contig_range_aligned_to_a_max_order_block():
    model = ctx("x86_64")
    since = verdict_for_order_use("aligns", 10, model)
    assert (since.kind, since.reason) == (
        SAFE,
        "aligns or sizes a contiguous range to order 10 (4 MiB) on x86_64, where a "
        "pageblock, order 9 (2 MiB), is all alloc_contig_range() needs since 5.19: valid, "
        "2x coarser than needed",
    )
    before = verdict_for_order_use("aligns-needed", 10, model).reason
    assert before.startswith("before 5.19 alloc_contig_range() isolated whole MAX_ORDER")
    # arm64 16K: a pageblock is a MAX_ORDER block (both order 11)
    assert "nothing is wasted" in verdict_for_order_use("aligns", 11, ctx("arm64-16k")).reason


def test_sizes_round_up_like_get_order():
    model = ctx("x86_64")
    assert verdict_for_bytes(8 << 20, model).reason == (
        "x86_64, asks for 8 MiB; the largest buddy block here is 4 MiB"
    )
    assert verdict_for_bytes(4 << 20, model).kind == SAFE
    assert verdict_for_bytes((4 << 20) + 1, model).kind == BREAKS
    assert verdict_for_bytes(1, model).kind == SAFE
    assert verdict_for_bytes(1 << 30, ModelContext.for_preset("arm64-64k")).kind == BREAKS
    with pytest.raises(ValueError):
        verdict_for_bytes(0, model)


def test_severity_follows_the_verdict():
    assert severity_for(Verdict(BREAKS, "x", "w"), Level.LOW) is Level.MEDIUM
    assert severity_for(Verdict(BREAKS, "x", "w"), Level.HIGH) is Level.HIGH
    assert severity_for(Verdict(SAFE, "x", "w"), Level.HIGH) is Level.LOW
    assert severity_for(Verdict(UNKNOWN, "x", "w"), Level.MEDIUM) is Level.MEDIUM


# --- cost --------------------------------------------------------------------------------


def test_a_verdict_costs_microseconds():
    model = ctx("arm64-4k", before_5_15=True)
    walks = list(itertools.islice(itertools.cycle(SHAPES), 20000))
    start = time.perf_counter()
    for walk in walks:
        verdict_for_walk(walk, model)
    cached = (time.perf_counter() - start) / len(walks)
    start = time.perf_counter()
    for walk in SHAPES:
        _judge(walk, model)
    uncached = (time.perf_counter() - start) / len(SHAPES)
    assert cached < 20e-6, f"{cached * 1e6:.1f} us per cached verdict"
    assert uncached < 1e-3, f"{uncached * 1e6:.1f} us per verdict computed afresh"
