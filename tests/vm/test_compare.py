"""The comparison, on the consoles of three real boots of Debian's 6.1 cloud kernel."""

from __future__ import annotations

import pytest
from vm_helpers import FIXTURES, captured

from kscan.model import PRESETS, ModelContext, emit_cmdline
from kscan.model.layout import Layout, MemRange
from kscan.vm import expect
from kscan.vm.compare import compare
from kscan.vm.console import split_console
from kscan.vm.kernel_view import (
    KernelView,
    KernelViewError,
    parse_buddyinfo,
    parse_memory_blocks,
    parse_pagetypeinfo,
    parse_zoneinfo,
    read_view,
)
from kscan.vm.session import evaluate

X86 = PRESETS["x86_64"]


def differing(result):
    return {c.subject: c.note for c in result.checks if c.agrees is not True}


@pytest.mark.parametrize("name", ["builtin-6.1", "e820-sample-6.1"])
def test_booted_layouts_agree_with_the_model(name, tmp_path):
    result = evaluate(*captured(name, tmp_path))
    assert differing(result) == {}
    assert result.finished and not result.splats and result.exit_code == 0
    assert [str(e) for e in result.edits] == [
        "RAM 0x0-0xfff (4 KiB): x86 keeps the first page, which belongs to the BIOS "
        "(trim_bios_range())"
    ]
    assert len(result.checks) == 15


def test_builtin_layout_rows(tmp_path):
    checks = {c.subject: c for c in evaluate(*captured("builtin-6.1", tmp_path)).checks}
    assert checks["node 0 DMA32"].kernel == "[0x1000, 0x7fc00), 486208 present"
    assert checks["absent sections"].kernel == "[0x40000, 0x48000)"
    assert checks["initialised and reserved"].kernel == "DMA 1+97, DMA32 64+64+64+1024"
    assert checks["node 0 DMA32: with a memmap"].kernel == "950"
    blocks = checks["MAX_ORDER blocks with a hole"]
    assert blocks.model == blocks.kernel == "4 at 0x0, 0x10400, 0x20400, 0x30400"
    assert "keeps 16922 present pages" in checks["node 0 DMA32"].note


def test_mem_1g_is_found_with_its_size(tmp_path):
    result = evaluate(*captured("mem1g-6.1", tmp_path))
    assert result.exit_code == 1
    notes = differing(result)
    only_model = "only the model has RAM at 0x48000000-0x7fbfffff (892 MiB)"
    assert notes["e820 map (boot log)"] == notes["System RAM (/proc/iomem)"] == only_model
    assert notes["node 0 DMA32"] == (
        "kernel spans -261120 pages (1020 MiB), -228352 present pages (892 MiB)"
    )
    assert "memory9: model online DMA32, kernel absent" in notes["128 MiB blocks: state, zone"]
    assert "MAX_ORDER blocks with a hole" not in notes  # mem= cut whole blocks only


def test_a_guest_that_died_disagrees(tmp_path):
    chosen, boot = captured("builtin-6.1", tmp_path)
    boot.console = boot.console[: boot.console.index("@@kscan-vm:begin:zoneinfo@@")]
    result = evaluate(chosen, boot)
    assert not result.finished and result.exit_code == 1
    assert differing(result)["node 0 DMA32"] == "the guest did not print zoneinfo"


def test_kernel_image_loaded_in_a_hole_is_followed():
    """With KASLR the kernel can land in a hole and add itself to RAM
    (e820_add_kernel_range()); the model then follows, and says so."""
    layout = emit_cmdline(X86).layout
    image = MemRange(0x45000000, 0x47830000)  # seen once, inside the absent section
    kept, edits = expect.with_kernel_image(layout, image)
    assert [str(e.ram) for e in edits] == ["0x45000000-0x4782ffff"]
    assert MemRange(0x45000000, 0x47830000) in kept.ram
    assert expect.with_kernel_image(layout, MemRange(0x48000000, 0x49000000)) == (layout, [])


def test_unavailable_ranges_follow_memmap_init():
    """A hole goes to the zone of the RAM after it, the tail of the last section to the
    last zone, and absent sections count nothing."""
    kept, _ = expect.as_x86_keeps(emit_cmdline(X86).layout)
    ctx = ModelContext(X86, kept)
    assert expect.unavailable_ranges(ctx) == [
        (0, "DMA", 1), (0, "DMA", 97), (0, "DMA32", 64), (0, "DMA32", 64), (0, "DMA32", 64),
        (0, "DMA32", 1024),
    ]  # fmt: skip


def test_memory_block_zones():
    layout = Layout((MemRange(0x1000, 0x9F000), MemRange(0x100000, 0x10000000)))
    ctx = ModelContext(X86, layout)
    assert expect.memory_blocks(ctx, 128 << 20) == {0: ("online", "none"), 1: ("online", "DMA32")}


@pytest.mark.parametrize(
    "spanned, agrees, note",
    [(1044480, True, ""), (1044479, False, "kernel spans -1 pages (4 KiB)")],
)
def test_a_zone_of_holes_is_compared_without_a_start(spanned, agrees, note):
    """zoneinfo_show_print() stops before start_pfn in a zone with no present pages:
    here DMA32, all hole between 15 MiB and 4 GiB."""
    layout = Layout((MemRange(0x1000, 0xF00000), MemRange(0x100000000, 0x140000000)))
    zoneinfo = f"Node 0, zone    DMA32\n  spanned  {spanned}\n  present  0\n  managed  0\n"
    view = KernelView("", zones=parse_zoneinfo(zoneinfo))
    checks = {c.subject: c for c in compare(ModelContext(X86, layout), layout, view)}
    dma32 = checks["node 0 DMA32"]
    assert dma32.model == "[0x1000, 0x100000), 0 present"
    assert dma32.kernel == f"{spanned} pages spanned, start not shown, 0 present"
    assert (dma32.agrees, dma32.note) == (agrees, note)


def test_parsers_read_the_captured_files():
    capture = split_console((FIXTURES / "builtin-6.1.console").read_text())
    zones = parse_zoneinfo(capture.text("zoneinfo"))
    assert [(z.zone, z.start_pfn, z.spanned, z.present) for z in zones][:2] == [
        ("DMA", 1, 4095, 3998), ("DMA32", 4096, 519168, 486208)
    ]  # fmt: skip
    assert zones[2].spanned == 0
    assert len(parse_buddyinfo(capture.text("buddyinfo"))[0, "DMA32"]) == 11
    types = parse_pagetypeinfo(capture.text("pagetypeinfo"))
    assert types.pageblock_order == 9 and types.pageblocks(0, "DMA") == 8
    size, blocks = parse_memory_blocks(capture.text("memory"))
    assert size == 128 << 20 and 8 not in {b.index for b in blocks} and len(blocks) == 15
    view = read_view(capture)
    assert view.problems == {} and view.kernel_code is not None


@pytest.mark.parametrize(
    "parse, text, message",
    [
        (parse_zoneinfo, "garbage\n", "no 'Node N, zone NAME' lines"),
        (parse_zoneinfo, "Node 0, zone DMA\n  spanned 4\n", "has no managed, present"),
        (parse_buddyinfo, "Node 0, zone DMA 1 2 x\n", ":1: malformed line"),
        (parse_pagetypeinfo, "Page block order: 9\n", "no 'Page block order'"),
        (parse_memory_blocks, "memory0 0 online\n", ":1: malformed line"),
        (parse_memory_blocks, "memory0 0 online DMA\n", "no block_size_bytes"),
    ],
)
def test_parsers_reject_what_they_do_not_know(parse, text, message):
    with pytest.raises(KernelViewError, match=message):
        parse(text)
