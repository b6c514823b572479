"""Era-aware memmap validity per PFN and per range."""

from __future__ import annotations

import pytest
from model_toy import TOY, toy_layout

from kscan.model.geometry import PRESETS
from kscan.model.layout import Layout, LayoutError, MemRange
from kscan.model.memmap import Memmap, PageState
from kscan.model.ranges import PfnRange

# Sections are 16 pages.  RAM [2, 30) with a NOMAP page at 5, a hole [9, 11), then an
# absent section [32, 48), then [48, 80) whose second section [64, 80) is offline.
LAYOUT = toy_layout(
    ram=[(2, 9), (11, 30), (48, 80)],
    nomap=[(5, 6)],
    reserved=[(12, 14)],
    offline=[(64, 80)],
)


@pytest.fixture(params=[True, False], ids=["before-5.15", "5.15+"])
def era(request):
    return request.param


def test_states_per_era(era):
    memmap = Memmap(TOY, LAYOUT, holes_in_zone_era=era)
    hole = PageState.UNINITIALISED if era else PageState.RESERVED_HOLE
    assert memmap.state(2) is PageState.ONLINE
    assert memmap.state(12) is PageState.ONLINE  # reserved RAM has a live struct page
    assert memmap.state(5) is hole  # NOMAP
    assert memmap.state(9) is hole
    assert memmap.state(0) is hole  # below RAM, inside the first present section
    assert memmap.state(31) is hole
    assert memmap.state(40) is PageState.ABSENT
    assert memmap.state(70) is PageState.POISONED
    assert memmap.is_initialised(9) is not era
    assert not memmap.is_initialised(70)


def test_pfn_valid_is_memblock_granular_only_before_5_15():
    before, after = Memmap(TOY, LAYOUT, True), Memmap(TOY, LAYOUT, False)
    assert [before.pfn_valid(p) for p in (2, 5, 9, 40, 70)] == [True, False, False, False, True]
    assert [after.pfn_valid(p) for p in (2, 5, 9, 40, 70)] == [True, True, True, False, True]
    # pfn_to_online_page(): offline memory never, holes only once they are initialised.
    assert [before.is_online(p) for p in (2, 9, 70)] == [True, False, False]
    assert [after.is_online(p) for p in (2, 9, 70)] == [True, True, False]


def test_first_bad_pfn(era):
    memmap = Memmap(TOY, LAYOUT, era)
    first = memmap.first_bad(0, 100)
    if era:
        assert (first.pfns, first.what) == (PfnRange(0, 2), "hole")
        assert memmap.first_bad(3, 9).pfns == PfnRange(5, 6)
    else:
        assert (first.pfns, first.what) == (PfnRange(32, 48), "absent section")
        assert memmap.first_bad(3, 30) is None
    assert memmap.first_bad(50, 70).pfns == PfnRange(64, 70)  # clipped to the question
    assert memmap.first_bad(48, 64) is None


def test_bad_window_needs_a_walkable_pfn(era):
    memmap = Memmap(TOY, LAYOUT, era)
    found = memmap.bad_window(4, memmap.online)
    if era:
        assert found[0] == PfnRange(0, 4) and found[1].pfns == PfnRange(0, 2)
        nomap = [b for b in memmap.bad if b.what == "NOMAP hole"]
        assert memmap.bad_window(4, memmap.online, nomap)[0] == PfnRange(4, 8)
    else:
        assert found is None  # absent and offline sections never share a block with RAM
    # A walk checked at its head only with pfn_valid() enters the offline section.
    checked = memmap.bad_window(4, memmap.valid, at_head=True)
    assert checked[1].state is (PageState.UNINITIALISED if era else PageState.POISONED)


def test_zone_spans_clamp_node_spans_to_zone_limits():
    layout = toy_layout(ram=[(2, 30), (48, 80)], nodes=[(0, 40), (40, 96)])
    memmap = Memmap(TOY, layout, False)
    spans = [(z.node, z.zone, z.pfns) for z in memmap.zone_spans]
    assert spans == [(0, "DMA", PfnRange(2, 30)), (1, "Normal", PfnRange(48, 80))]
    single = Memmap(TOY, toy_layout(ram=[(2, 30), (48, 80)]), False)
    assert [z.pfns for z in single.zone_spans] == [PfnRange(2, 32), PfnRange(32, 80)]
    assert single.zone_at(40).zone == "Normal" and single.zone_at(90) is None


def test_offline_blocks_must_be_whole_sections():
    with pytest.raises(LayoutError, match="not whole 64 KiB sections"):
        Memmap(TOY, toy_layout(ram=[(0, 64)], offline=[(16, 24)]), False)


def test_flatmem_has_no_absent_sections():
    flat = TOY.with_memory_model("FLATMEM")
    memmap = Memmap(flat, LAYOUT, False)
    assert memmap.absent == [] and memmap.state(40) is PageState.RESERVED_HOLE
    assert memmap.present == [PfnRange(2, 80)]


def test_partial_pages_round_the_safe_way():
    layout = toy_layout(ram=[(0, 16)])
    odd = Layout((MemRange(0x800, 0x10000),), nomap=(MemRange(0x3800, 0x4800),))
    memmap = Memmap(TOY, odd, False)
    assert memmap.ram == [PfnRange(1, 16)]  # RAM rounds inward
    assert memmap.nomap == [PfnRange(3, 5)]  # NOMAP rounds outward
    assert Memmap(TOY, layout, False).holes == []


def test_pfn_to_online_page_is_subsection_granular():
    """Booted 6.1 (kscan vm --probe kpageflags): RAM ending 4 MiB below its section's end
    leaves two 2 MiB subsections with pfn_valid() but no online page; a 64-page hole
    inside a subsection with RAM keeps its (reserved) online page."""
    x86 = PRESETS["x86_64"]
    layout = Layout((MemRange(0x100000, 0x10500000), MemRange(0x10540000, 0x7FC00000)))
    memmap = Memmap(x86, layout, holes_in_zone_era=False)
    assert memmap.pfn_valid(0x7FC00) and not memmap.is_online(0x7FC00)
    assert not memmap.is_online(0x7FFFF) and memmap.is_online(0x7FBFF)
    assert memmap.is_online(0x10500)  # a hole page, inside a subsection with RAM
