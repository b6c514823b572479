"""memmap= recipes for an x86_64 VM with holes: the emitted line parses back."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kscan.findings import Walk
from kscan.model import (
    PRESETS,
    Layout,
    MemRange,
    ModelContext,
    emit_cmdline,
    load_layout,
    parse_e820,
    parse_memmap_cmdline,
)
from kscan.model.cmdline import recipe_for_layout
from kscan.model.crosscheck import verdict_for_walk
from kscan.model.report import problem_blocks

X86 = PRESETS["x86_64"]
LAYOUTS = Path(__file__).parent.parent / "fixtures" / "layouts"


def dmesg_user_map(layout) -> str:
    """What the booted kernel prints for a user-defined map (e820__print_table("user"))."""
    return "\n".join(
        f"[    0.000000] user: [mem {r.start:#018x}-{r.end - 1:#018x}] usable" for r in layout.ram
    )


def test_default_recipe():
    recipe = emit_cmdline(X86)
    assert recipe.cmdline == (
        "memmap=exactmap memmap=636K@0x0 memmap=260M@0x100000 memmap=261888K@0x10540000 "
        "memmap=261888K@0x20540000 memmap=256768K@0x30540000 memmap=892M@0x48000000"
    )
    assert recipe.qemu_memory == "2G"
    assert "-m 2G" in recipe.qemu_command() and recipe.cmdline in recipe.qemu_command()
    assert parse_memmap_cmdline(recipe.cmdline) == recipe.layout
    assert parse_e820(dmesg_user_map(recipe.layout)) == recipe.layout


def test_recipe_holes_sit_inside_max_order_blocks_and_pageblocks():
    recipe = emit_cmdline(X86, holes=2, hole_pages=16, absent_section=False)
    model = ModelContext(X86, recipe.layout, holes_in_zone_era=True)
    blocks = {str(b.pfns): b.reasons for b in problem_blocks(model)}
    assert blocks == {
        "[0x0, 0x400)": ("hole [0x9f, 0x100)",),
        "[0x10400, 0x10800)": ("hole [0x10500, 0x10510)",),
        "[0x20400, 0x20800)": ("hole [0x20500, 0x20510)",),
    }
    # Each pageblock holding a hole starts with RAM, so a walk from its head gets there.
    for pfn in (0x10500, 0x20500):
        head = pfn - pfn % X86.pageblock_pages
        assert model.memmap.is_online(head) and not model.memmap.is_initialised(pfn)


def test_recipe_absent_section_breaks_zone_walkers_on_any_kernel():
    model = ModelContext(X86, emit_cmdline(X86).layout)
    verdict = verdict_for_walk(Walk("zone-span", "pfn", None), model)
    assert "spans absent section [0x40000, 0x48000)" in verdict.reason


@settings(max_examples=40, deadline=None)
@given(
    memory_mib=st.sampled_from([1024, 1536, 2048]),
    holes=st.integers(0, 4),
    hole_pages=st.integers(1, 255),
    absent_section=st.booleans(),
)
def test_every_recipe_round_trips(memory_mib, holes, hole_pages, absent_section):
    try:
        recipe = emit_cmdline(
            X86,
            memory_mib=memory_mib,
            holes=holes,
            hole_pages=hole_pages,
            absent_section=absent_section,
        )
    except ValueError:
        return  # too many holes for that much memory
    assert parse_memmap_cmdline(recipe.cmdline) == recipe.layout
    assert parse_e820(dmesg_user_map(recipe.layout)) == recipe.layout
    assert max(r.end for r in recipe.layout.ram) <= memory_mib << 20


def test_recipe_errors():
    with pytest.raises(ValueError, match="x86 only"):
        emit_cmdline(PRESETS["arm64-4k"])
    with pytest.raises(ValueError, match="too small"):
        emit_cmdline(X86, memory_mib=512, holes=3)
    with pytest.raises(ValueError, match="half a pageblock"):
        emit_cmdline(X86, hole_pages=256)


def test_recipe_for_a_layout_read_from_dmesg():
    layout = load_layout(LAYOUTS / "qemu-x86_64-memmap.dmesg")
    recipe = recipe_for_layout(layout)
    assert recipe.cmdline == (
        "memmap=exactmap memmap=636K@0x0 memmap=255M@0x100000 memmap=256M@0x10400000"
    )
    assert recipe.qemu_memory == "576M"  # 516 MiB of RAM, a MiB for SeaBIOS, in 64 MiB steps
    assert parse_memmap_cmdline(recipe.cmdline) == layout


def test_recipe_with_ram_above_4_gib():
    """q35 with more than 2.75 GiB: 2 GiB below 4 GiB, the rest from 4 GiB up."""
    layout = Layout((MemRange(0x100000, 0x7F000000), MemRange(1 << 32, (1 << 32) + (1 << 30))))
    assert recipe_for_layout(layout).qemu_memory == "3G"
    too_low = Layout((MemRange(0x100000, 0x80000000), MemRange(1 << 32, 5 << 30)))
    with pytest.raises(ValueError, match="RAM there must end a MiB before"):
        recipe_for_layout(too_low)


def test_recipe_refuses_what_memmap_cannot_make():
    with pytest.raises(ValueError, match="nomap ranges cannot be made"):
        recipe_for_layout(load_layout(LAYOUTS / "arm64-server.toml"))
    with pytest.raises(ValueError, match="crosses 4 GiB"):
        recipe_for_layout(Layout((MemRange(0x100000, 5 << 30),)))
    with pytest.raises(ValueError, match="at most 2.75 GiB"):
        recipe_for_layout(Layout((MemRange(0x100000, 0xBF000000),)))
