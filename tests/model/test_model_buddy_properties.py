"""Buddy invariants under random layouts, geometries and operations (hypothesis):
no free block spans a hole, a node or zone, or (without VMEMMAP) a section; merging
never crosses them; free pages are conserved; freeing everything restores boot."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace
from itertools import groupby

from hypothesis import given, settings
from hypothesis import strategies as st
from model_toy import TOY, toy_layout

from kscan.model.buddy import ISOLATE, MIGRATETYPES, Buddy, BuddyError
from kscan.model.memmap import Memmap
from kscan.model.ranges import PfnRange

SETTINGS = settings(max_examples=60, deadline=None)

# What each page of a generated layout is; RAM is the common case.
KINDS = ["ram"] * 8 + ["hole", "nomap", "reserved"]


@st.composite
def geometries(draw):
    max_order = draw(st.integers(1, 4))
    return replace(
        TOY,
        max_page_order=max_order,
        pmd_order=draw(st.integers(0, max_order)),
        # Sections from 4 to 64 pages: blocks may exceed them (the what-if case).
        section_size_bits=TOY.page_shift + draw(st.integers(2, 6)),
        memory_model=draw(st.sampled_from(["SPARSEMEM", "SPARSEMEM_VMEMMAP"])),
        zones=(("DMA", draw(st.integers(1, 128)) << TOY.page_shift), TOY.zones[-1]),
    )


def runs(kinds: list[str], wanted: set[str]) -> list[tuple[int, int]]:
    out, pfn = [], 0
    for kind, group in groupby(kinds):
        size = len(list(group))
        if kind in wanted:
            out.append((pfn, pfn + size))
        pfn += size
    return out


@st.composite
def memmaps(draw):
    geometry = draw(geometries())
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=8, max_size=128))
    if all(k == "hole" for k in kinds):
        kinds[0] = "ram"
    section = geometry.section_pages
    whole_ram_sections = [
        s
        for s in range(0, len(kinds) - section + 1, section)
        if all(k == "ram" for k in kinds[s : s + section])
    ]
    offline = (
        draw(st.lists(st.sampled_from(whole_ram_sections), unique=True))
        if whole_ram_sections
        else []
    )
    split = draw(st.integers(0, len(kinds)))
    layout = toy_layout(
        ram=runs(kinds, {"ram", "nomap", "reserved"}),
        nomap=runs(kinds, {"nomap"}),
        reserved=runs(kinds, {"reserved"}),
        offline=[(s, s + section) for s in offline],
        nodes=[(0, split), (split, len(kinds))] if 0 < split < len(kinds) else [],
    )
    return Memmap(geometry, layout, holes_in_zone_era=draw(st.booleans()))


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("alloc"), st.integers(0, 4), st.sampled_from(MIGRATETYPES[:3])),
        st.tuples(st.just("free"), st.integers(0, 1000)),
        st.tuples(st.just("contig"), st.integers(0, 127), st.integers(1, 16)),
    ),
    max_size=30,
)


def run(b: Buddy, operations) -> None:
    for op in operations:
        if op[0] == "alloc" and op[1] <= b.geometry.max_page_order:
            b.alloc(op[1], op[2])
        elif op[0] == "free" and b.allocated:
            b.free(sorted(b.allocated)[op[1] % len(b.allocated)])
        elif op[0] == "contig":
            # A hole or a zone edge in the way is refused, as pfn_range_valid_contig() does.
            with suppress(BuddyError):
                b.alloc_contig_range(op[1], op[1] + op[2])
        assert b.invariant_violations() == [], op


@SETTINGS
@given(memmaps())
def test_boot_state_is_sound_and_fully_merged(memmap):
    b = Buddy(memmap)
    assert b.invariant_violations() == []
    assert b.free_pages() == sum(r.size for r in memmap.free)
    # Fully merged: no free block has a free buddy it may merge with.
    for pfn, order in b.free_blocks.items():
        if order < b.geometry.max_page_order:
            assert not b._may_merge(pfn, pfn ^ (1 << order), order)


@SETTINGS
@given(memmaps(), OPERATIONS)
def test_operations_keep_the_invariants(memmap, operations):
    run(Buddy(memmap), operations)


@SETTINGS
@given(memmaps(), OPERATIONS)
def test_freeing_everything_restores_the_boot_state(memmap, operations):
    b = Buddy(memmap)
    boot = dict(b.free_blocks)
    run(b, operations)
    for pfn in list(b.allocated):
        b.free(pfn)
    assert b.free_blocks == boot


@SETTINGS
@given(memmaps(), st.integers(0, 127), st.integers(1, 16))
def test_isolation_leaves_no_trace_when_it_fails(memmap, start, length):
    b = Buddy(memmap)
    b.alloc(0)

    def types():
        return [b.migratetype(pfn) for pfn in range(memmap.span.end)]

    before, types_before = dict(b.free_blocks), types()
    try:
        taken = b.alloc_contig_range(start, start + length)
    except BuddyError:
        taken = None
    assert ISOLATE not in types()
    if not taken:
        assert (b.free_blocks, types()) == (before, types_before)
    else:
        assert sum(1 << o for p, o in b.allocated.items() if p >= start) >= length
        assert all(
            not PfnRange(p, p + (1 << o)).overlaps(PfnRange(start, start + length))
            for p, o in b.free_blocks.items()
        )
