"""Geometry presets, MAX_ORDER meanings, and presets read from (tiny fake) kernel trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kscan.model.archtree import presets_from_tree
from kscan.model.geometry import PRESETS, fmt_size, largest_order, preset


def test_largest_order_per_meaning():
    assert largest_order(11, "exclusive") == 10
    assert largest_order(10, "inclusive") == 10
    assert largest_order(10, "inclusive-renamed") == 10
    with pytest.raises(ValueError):
        largest_order(10, "sane")


def test_max_order_macro_in_each_era():
    g = PRESETS["x86_64"]
    assert g.max_order_macro("exclusive") == ("MAX_ORDER", 11)
    assert g.max_order_macro("inclusive") == ("MAX_ORDER", 10)
    assert g.max_order_macro("inclusive-renamed") == ("MAX_PAGE_ORDER", 10)
    assert g.with_max_order(11, "exclusive").max_page_order == 10


@pytest.mark.parametrize(
    ("name", "page", "block", "pageblock", "section"),
    [
        ("x86_64", "4 KiB", "4 MiB", "2 MiB", "128 MiB"),
        ("arm64-4k", "4 KiB", "4 MiB", "2 MiB", "128 MiB"),
        ("arm64-16k", "16 KiB", "32 MiB", "32 MiB", "128 MiB"),
        ("arm64-64k", "64 KiB", "512 MiB", "512 MiB", "512 MiB"),
        ("ppc64", "64 KiB", "16 MiB", "2 MiB", "16 MiB"),
        ("s390", "4 KiB", "4 MiB", "1 MiB", "256 MiB"),
        ("riscv", "4 KiB", "4 MiB", "2 MiB", "128 MiB"),
    ],
)
def test_presets_match_the_kernel(name, page, block, pageblock, section):
    g = PRESETS[name]
    assert fmt_size(g.page_size) == page
    assert g.bytes(g.max_order_pages) == block
    assert g.bytes(g.pageblock_pages) == pageblock
    assert g.bytes(g.section_pages) == section
    assert not g.block_exceeds_section  # mmzone.h's #error holds for every preset
    assert g.subsection_pages << g.page_shift == 2 << 20


def test_pageblock_follows_a_smaller_max_order():
    g = PRESETS["x86_64"].with_max_page_order(5)
    assert (g.pageblock_order, g.name, g.title) == (5, "x86_64:max-order-5", "x86_64, max order 5")
    assert PRESETS["x86_64"].with_max_page_order(18).block_exceeds_section


def test_preset_spec_aliases_and_memory_models():
    assert preset("arm64") is PRESETS["arm64-4k"]
    g = preset("x86_64:sparsemem")
    assert (g.memory_model, g.name, g.vmemmap) == ("SPARSEMEM", "x86_64:sparsemem", False)
    assert preset("riscv64:vmemmap") is PRESETS["riscv"]
    assert not preset("x86_64:flatmem").sparse
    with pytest.raises(ValueError, match="unknown preset 'sparc'"):
        preset("sparc")
    with pytest.raises(ValueError, match="unknown memory model"):
        preset("x86_64:discontigmem")


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [
        (0, "0 B"),
        (4096, "4 KiB"),
        (4097, "4097 B"),
        (1536 << 20, "1536 MiB"),
        (16 << 40, "16 TiB"),
        (16461432 << 10, "15.7 GiB"),
    ],
)
def test_fmt_size(nbytes, text):
    assert fmt_size(nbytes) == text


# --- presets from a tree -----------------------------------------------------------------

MMZONE_6_1 = """\
#ifndef CONFIG_ARCH_FORCE_MAX_ORDER
#define MAX_ORDER 11
#else
#define MAX_ORDER CONFIG_ARCH_FORCE_MAX_ORDER
#endif
#define MAX_ORDER_NR_PAGES (1 << (MAX_ORDER - 1))
"""

MMZONE_6_12 = """\
#ifndef CONFIG_ARCH_FORCE_MAX_ORDER
#define MAX_PAGE_ORDER 10
#else
#define MAX_PAGE_ORDER CONFIG_ARCH_FORCE_MAX_ORDER
#endif
#define MAX_ORDER_NR_PAGES (1 << MAX_PAGE_ORDER)
#define NR_PAGE_ORDERS (MAX_PAGE_ORDER + 1)
"""

ARM64_KCONFIG_6_1 = """\
config ARM64_4K_PAGES
\tbool "4KB"

config ARM64_64K_PAGES
\tbool "64KB"

config ARCH_FORCE_MAX_ORDER
\tint
\tdefault "14" if ARM64_64K_PAGES
\tdefault "12" if ARM64_16K_PAGES
\tdefault "11"
\thelp
\t  Not a default "99" line.

config UNMAP_KERNEL_AT_EL0
\tdefault "7"
"""

ARM64_SPARSEMEM = """\
#ifndef __ASM_SPARSEMEM_H
#define __ASM_SPARSEMEM_H
#ifdef CONFIG_ARM64_64K_PAGES
#define SECTION_SIZE_BITS 29
#else
#define SECTION_SIZE_BITS 27
#endif /* CONFIG_ARM64_64K_PAGES */
#endif
"""

PPC_KCONFIG_6_12 = """\
config PPC_4K_PAGES
\tbool "4k page size"

config PPC_64K_PAGES
\tbool "64k page size"

config ARCH_FORCE_MAX_ORDER
\tint "Order of maximal physically contiguous allocations"
\trange 7 8 if PPC64 && PPC_64K_PAGES
\tdefault "8" if PPC64 && PPC_64K_PAGES
\trange 12 12 if PPC64 && !PPC_64K_PAGES
\tdefault "12" if PPC64 && !PPC_64K_PAGES
\trange 10 12
\tdefault "10"
"""

PPC_SPARSEMEM = """\
#ifndef _ASM_POWERPC_SPARSEMEM_H
#ifdef __KERNEL__
#ifdef CONFIG_SPARSEMEM
#define SECTION_SIZE_BITS       24
#endif /* CONFIG_SPARSEMEM */
#endif /* __KERNEL__ */
#endif
"""

X86_SPARSEMEM = """\
#ifdef CONFIG_SPARSEMEM
#ifdef CONFIG_X86_32
# ifdef CONFIG_X86_PAE
#  define SECTION_SIZE_BITS	29
# else
#  define SECTION_SIZE_BITS	26
# endif
#else /* CONFIG_X86_32 */
# define SECTION_SIZE_BITS	27 /* matt - 128 is convenient right now */
#endif
#endif
"""


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_tree_6_1_arm64_reads_exclusive_kconfig_values(tmp_path):
    tree = make_tree(
        tmp_path,
        {
            "include/linux/mmzone.h": MMZONE_6_1,
            "arch/arm64/Kconfig": ARM64_KCONFIG_6_1,
            "arch/arm64/include/asm/sparsemem.h": ARM64_SPARSEMEM,
        },
    )
    presets = presets_from_tree(tree)
    # The tree offers 4K and 64K only; 16K is left out.
    assert set(presets) == {"arm64-4k", "arm64-64k"}
    four, sixty_four = presets["arm64-4k"], presets["arm64-64k"]
    assert (four.max_page_order, four.section_size_bits) == (10, 27)
    assert (sixty_four.max_page_order, sixty_four.section_size_bits, sixty_four.page_shift) == (
        13,
        29,
        16,
    )
    assert four.source == (
        "arch/arm64/Kconfig, arch/arm64/include/asm/sparsemem.h (exclusive MAX_ORDER)"
    )


def test_tree_6_12_powerpc_range_and_x86_mmzone_default(tmp_path):
    tree = make_tree(
        tmp_path,
        {
            "include/linux/mmzone.h": MMZONE_6_12.replace(
                "MAX_PAGE_ORDER 10", "MAX_PAGE_ORDER 9", 1
            ),
            "arch/powerpc/Kconfig": PPC_KCONFIG_6_12,
            "arch/powerpc/include/asm/sparsemem.h": PPC_SPARSEMEM,
            "arch/x86/Kconfig": "config X86_64\n\tdef_bool y\n",
            "arch/x86/include/asm/sparsemem.h": X86_SPARSEMEM,
        },
    )
    presets = presets_from_tree(tree)
    assert set(presets) == {"ppc64", "ppc64-4k", "x86_64"}
    ppc = presets["ppc64"]
    assert (ppc.max_page_order, ppc.max_order_range, ppc.section_size_bits) == (8, (7, 8), 24)
    ppc4k = presets["ppc64-4k"]  # !PPC_64K_PAGES: a largest block of 16 MiB, one section
    assert (ppc4k.page_shift, ppc4k.max_page_order, ppc4k.max_order_range) == (12, 12, (12, 12))
    assert ppc4k.max_order_pages == ppc4k.section_pages
    x86 = presets["x86_64"]
    assert (x86.max_page_order, x86.section_size_bits) == (9, 27)  # mmzone.h's default
    assert x86.source.startswith("include/linux/mmzone.h")


def test_tree_meaning_can_be_forced_and_missing_files_fall_back(tmp_path):
    tree = make_tree(tmp_path, {"arch/s390/Kconfig": "", "arch/riscv/Kconfig": ""})
    presets = presets_from_tree(tree, meaning="exclusive")
    assert presets["s390"] == PRESETS["s390"]  # nothing read: the built-in table
    assert presets_from_tree(tmp_path / "nowhere") == {}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "meaning"),
    [("KSCAN_KERNEL_6_1", "exclusive"), ("KSCAN_KERNEL_6_12", "inclusive-renamed")],
)
def test_real_trees_agree_with_the_table(env, meaning):
    root = os.environ.get(env)
    if not root:
        pytest.skip(f"{env} is not set")
    presets = presets_from_tree(root)
    for name, geometry in presets.items():
        table = PRESETS[name]
        assert geometry.source.endswith(f"({meaning} MAX_ORDER)")
        assert (geometry.page_shift, geometry.max_page_order, geometry.section_size_bits) == (
            table.page_shift,
            table.max_page_order,
            table.section_size_bits,
        )
    assert len(presets) == len(PRESETS)
