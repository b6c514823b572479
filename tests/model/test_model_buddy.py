"""The buddy simulator on the toy geometry: blocks of 4 pages, pageblocks of 2,
sections of 16."""

from __future__ import annotations

from dataclasses import replace

import pytest
from model_toy import TOY, toy_layout

from kscan.model.buddy import ISOLATE, UNMOVABLE, Buddy, BuddyError, aligned_chunks
from kscan.model.memmap import Memmap


def buddy(geometry=TOY, **layout) -> Buddy:
    return Buddy(Memmap(geometry, toy_layout(**layout), holes_in_zone_era=False))


def test_aligned_chunks_like_free_pages_memory():
    assert aligned_chunks(1, 16, 2) == [(1, 0), (2, 1), (4, 2), (8, 2), (12, 2)]
    assert aligned_chunks(0, 3, 5) == [(0, 1), (2, 0)]


def test_boot_frees_aligned_chunks_and_stops_at_holes():
    b = buddy(ram=[(1, 9), (11, 16)])
    assert b.free_blocks == {1: 0, 2: 1, 4: 2, 8: 0, 11: 0, 12: 2}
    assert b.boot_free_pages == 13 and b.invariant_violations() == []


def test_reserved_nomap_and_offline_pages_are_never_free():
    b = buddy(ram=[(0, 32)], nomap=[(1, 2)], reserved=[(6, 8)], offline=[(16, 32)])
    assert b.free_blocks == {0: 0, 2: 1, 4: 1, 8: 2, 12: 2}


def test_alloc_takes_the_smallest_lowest_block_and_splits():
    b = buddy(ram=[(0, 8)])
    assert b.free_blocks == {0: 2, 4: 2}
    assert b.alloc(0) == 0
    assert b.free_blocks == {1: 0, 2: 1, 4: 2}  # expand(): upper halves go back
    assert b.alloc(1) == 2
    assert b.alloc(0) == 1
    assert b.alloc(2) == 4
    assert b.alloc(0) is None


def test_free_merges_back_to_the_largest_order():
    b = buddy(ram=[(0, 8)])
    heads = [b.alloc(0) for _ in range(8)]
    assert b.free_blocks == {}
    for pfn in reversed(heads):
        b.free(pfn)
    assert b.free_blocks == {0: 2, 4: 2}  # never above max_page_order
    with pytest.raises(BuddyError, match="not the head"):
        b.free(0)
    with pytest.raises(BuddyError, match="outside"):
        b.alloc(3)


def test_no_merge_across_a_node():
    b = buddy(ram=[(0, 16)], nodes=[(0, 6), (6, 16)])
    assert b.free_blocks == {0: 2, 4: 1, 6: 1, 8: 2, 12: 2}
    assert b.invariant_violations() == []


def test_what_if_max_order_above_the_section():
    big = replace(TOY, max_page_order=5)  # 32-page blocks, 16-page sections
    vmemmap = buddy(big, ram=[(0, 64)])
    assert vmemmap.free_blocks == {0: 5, 32: 5}
    sparse = buddy(big.with_memory_model("SPARSEMEM"), ram=[(0, 64)])
    assert sparse.free_blocks == {0: 4, 16: 4, 32: 4, 48: 4}  # page + n stays in a section


def test_isolated_pageblocks_do_not_merge_with_others():
    b = buddy(ram=[(0, 4)])
    pages = [b.alloc(0) for _ in range(4)]
    b.set_migratetype(2, 4, ISOLATE)
    for pfn in pages:
        b.free(pfn)
    assert b.free_blocks == {0: 1, 2: 1}  # order 1 = pageblock_order: the rule applies
    assert b.alloc(1) == 0
    assert b.alloc(1) is None  # the isolated pageblock is not allocatable


def test_fallback_claims_whole_pageblocks():
    b = buddy(ram=[(0, 8)])
    assert b.alloc(0, UNMOVABLE) == 0
    assert [b.migratetype(p) for p in range(0, 8, 2)] == [
        UNMOVABLE,
        UNMOVABLE,
        "movable",
        "movable",
    ]
    assert b.alloc(0, UNMOVABLE) == 1  # now from its own list


def test_alloc_contig_range_takes_splits_and_gives_back():
    b = buddy(ram=[(0, 32)])
    boot = dict(b.free_blocks)
    assert b.alloc_contig_range(5, 11)
    assert sorted(b.allocated.items()) == [(5, 0), (6, 1), (8, 1), (10, 0)]
    assert b.free_blocks == {0: 2, 4: 0, 11: 0, 12: 2, 16: 2, 20: 2, 24: 2, 28: 2}
    assert b.invariant_violations() == []
    b.free_contig_range(5, 11)
    assert b.free_blocks == boot


def test_alloc_contig_range_fails_on_pages_in_use_and_undoes_isolation():
    b = buddy(ram=[(0, 16)], reserved=[(9, 10)])
    boot = dict(b.free_blocks)
    assert not b.alloc_contig_range(6, 12)
    assert b.free_blocks == boot
    assert all(b.migratetype(p) == "movable" for p in range(16))
    pfn = b.alloc(0)
    assert not b.alloc_contig_range(pfn, pfn + 2)


def test_alloc_contig_range_refuses_holes_and_zone_crossings():
    b = buddy(ram=[(0, 10), (12, 48)])
    with pytest.raises(BuddyError, match="not all online RAM"):
        b.alloc_contig_range(8, 14)
    with pytest.raises(BuddyError, match="crosses a zone"):
        b.alloc_contig_range(28, 36)  # the toy's DMA zone ends at pfn 32
