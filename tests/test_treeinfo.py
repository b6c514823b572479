"""read_tree_info() and find_root() on tiny trees modelled on real kernels."""

from __future__ import annotations

from pathlib import Path

import pytest

from kscan.discover.treeinfo import TreeInfo, TreeInfoError, find_root, read_tree_info

# The MAX_ORDER block of include/linux/mmzone.h in each era, as the kernels spell it.
MMZONE_5_10 = """\
/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MMZONE_H
#define _LINUX_MMZONE_H

/* Free memory management - zoned buddy allocator.  */
#ifndef CONFIG_FORCE_MAX_ZONEORDER
#define MAX_ORDER 11
#else
#define MAX_ORDER CONFIG_FORCE_MAX_ZONEORDER
#endif
#define MAX_ORDER_NR_PAGES (1 << (MAX_ORDER - 1))

#ifdef CONFIG_HOLES_IN_ZONE
#define pfn_valid_within(pfn) pfn_valid(pfn)
#else
#define pfn_valid_within(pfn) (1)
#endif
#endif /* _LINUX_MMZONE_H */
"""

MMZONE_6_1 = """\
/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MMZONE_H
#define _LINUX_MMZONE_H

/* Free memory management - zoned buddy allocator.  */
#ifndef CONFIG_ARCH_FORCE_MAX_ORDER
#define MAX_ORDER 11
#else
#define MAX_ORDER CONFIG_ARCH_FORCE_MAX_ORDER
#endif
#define MAX_ORDER_NR_PAGES (1 << (MAX_ORDER - 1))
#endif /* _LINUX_MMZONE_H */
"""

MMZONE_6_5 = """\
/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MMZONE_H
#define _LINUX_MMZONE_H

/* Free memory management - zoned buddy allocator.  */
#ifndef CONFIG_ARCH_FORCE_MAX_ORDER
#define MAX_ORDER 10
#else
#define MAX_ORDER CONFIG_ARCH_FORCE_MAX_ORDER
#endif
#define MAX_ORDER_NR_PAGES (1 << MAX_ORDER)

#define IS_MAX_ORDER_ALIGNED(pfn) IS_ALIGNED(pfn, MAX_ORDER_NR_PAGES)
#endif /* _LINUX_MMZONE_H */
"""

MMZONE_6_12 = """\
/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MMZONE_H
#define _LINUX_MMZONE_H

/* Free memory management - zoned buddy allocator.  */
#ifndef CONFIG_ARCH_FORCE_MAX_ORDER
#define MAX_PAGE_ORDER 10
#else
#define MAX_PAGE_ORDER CONFIG_ARCH_FORCE_MAX_ORDER
#endif
#define MAX_ORDER_NR_PAGES (1 << MAX_PAGE_ORDER)

#define IS_MAX_ORDER_ALIGNED(pfn) IS_ALIGNED(pfn, MAX_ORDER_NR_PAGES)

#define NR_PAGE_ORDERS (MAX_PAGE_ORDER + 1)
#endif /* _LINUX_MMZONE_H */
"""


def makefile(version: str) -> str:
    major, minor, sublevel = version.split(".")
    return (
        "# SPDX-License-Identifier: GPL-2.0\n"
        f"VERSION = {major}\nPATCHLEVEL = {minor}\nSUBLEVEL = {sublevel}\n"
        "EXTRAVERSION =\nNAME = Baby Opossum Posse\n"
    )


def make_tree(root: Path, version: str, mmzone: str | bytes) -> Path:
    (root / "mm").mkdir(parents=True)
    (root / "include/linux").mkdir(parents=True)
    (root / "Makefile").write_text(makefile(version))
    header = root / "include/linux/mmzone.h"
    if isinstance(mmzone, bytes):
        header.write_bytes(mmzone)
    else:
        header.write_text(mmzone)
    return root


@pytest.mark.parametrize(
    ("version", "mmzone", "semantics", "line", "holes"),
    [
        ("5.10.240", MMZONE_5_10, "exclusive", 11, True),
        ("6.1.119", MMZONE_6_1, "exclusive", 11, False),
        ("6.5.13", MMZONE_6_5, "inclusive", 11, False),
        ("6.12.117", MMZONE_6_12, "inclusive-renamed", 15, False),  # NR_PAGE_ORDERS
    ],
)
def test_each_era(
    tmp_path: Path, version: str, mmzone: str, semantics: str, line: int, holes: bool
) -> None:
    root = make_tree(tmp_path, version, mmzone)
    info = read_tree_info(root)
    assert info == TreeInfo(
        root=root,
        version=tuple(int(part) for part in version.split(".")),
        semantics=semantics,
        semantics_source=f"include/linux/mmzone.h:{line}",
        holes_in_zone_era=holes,
        notes=(),
    )
    assert info.version_text == version


def test_find_root_from_a_nested_file_and_directory(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "linux", "6.12.117", MMZONE_6_12)
    (root / "mm/damon").mkdir()
    (root / "mm/damon/core.c").write_text("int x;\n")
    (root / "mm/Makefile").write_text("obj-y += page_alloc.o\n")
    assert find_root(root / "mm/damon/core.c") == root
    assert find_root(root / "mm/damon") == root
    assert find_root(root) == root


def test_find_root_needs_a_versioned_makefile(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "linux", "6.1.119", MMZONE_6_1)
    # tools/ has trees of its own shape, but their Makefiles carry no VERSION.
    nested = make_tree(root / "tools/lib", "6.1.119", MMZONE_6_1)
    (nested / "Makefile").write_text("include ../scripts/Makefile.include\n")
    assert find_root(nested / "mm") == root


def test_find_root_outside_a_tree(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\n")  # but no mm/
    assert find_root(tmp_path / "does/not/exist.c") is None


@pytest.mark.parametrize(
    ("version", "semantics", "holes"),
    [
        ("5.10", "exclusive", True),
        ("5.15", "exclusive", False),
        ("6.3.13", "exclusive", False),
        ("6.4", "inclusive", False),
        ("6.7.12", "inclusive", False),
        ("6.8", "inclusive-renamed", False),
    ],
)
def test_version_alone_decides(version: str, semantics: str, holes: bool) -> None:
    info = read_tree_info(None, kernel_version=version)
    assert (info.semantics, info.semantics_source) == (semantics, "command line")
    assert info.holes_in_zone_era is holes
    assert info.version_text.startswith(version)
    assert info.notes == ()


def test_no_root_and_no_overrides(tmp_path: Path) -> None:
    info = read_tree_info(None)
    assert (info.version, info.semantics, info.holes_in_zone_era) == (None, None, None)
    assert info.semantics_source == "unknown"
    assert info.version_text == "unknown"
    assert len(info.notes) == 1
    assert "--kernel-version" in info.notes[0]


def test_kernel_version_override_wins_over_the_tree(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "6.12.117", MMZONE_6_12)
    info = read_tree_info(root, kernel_version="6.1")
    assert info.version == (6, 1, 0)
    assert (info.semantics, info.semantics_source) == ("exclusive", "command line")
    assert info.notes == (
        "--kernel-version 6.1 overrides Makefile version 6.12.117",
        "include/linux/mmzone.h:15 says inclusive-renamed; using exclusive from the command line",
    )


def test_same_major_minor_override_is_quiet(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "6.1.119", MMZONE_6_1)
    info = read_tree_info(root, kernel_version="6.1")
    assert info.version == (6, 1, 0)
    assert info.notes == ()


def test_semantics_override_keeps_the_tree_version(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "6.5.13", MMZONE_6_5)
    info = read_tree_info(root, semantics="exclusive")
    assert info.version == (6, 5, 13)
    assert (info.semantics, info.semantics_source) == ("exclusive", "command line")
    assert info.holes_in_zone_era is False
    assert len(info.notes) == 1


@pytest.mark.parametrize("value", ["6", "6.", "six.one", "6.1.x", "v6.1", ""])
def test_invalid_kernel_version(value: str) -> None:
    with pytest.raises(TreeInfoError, match="invalid --kernel-version"):
        read_tree_info(None, kernel_version=value)


@pytest.mark.parametrize("value", ["renamed", "Inclusive", ""])
def test_invalid_semantics(value: str) -> None:
    with pytest.raises(TreeInfoError, match="invalid --max-order-semantics"):
        read_tree_info(None, semantics=value)


def test_mmzone_beats_a_disagreeing_makefile(tmp_path: Path) -> None:
    # A vendor tree that says 6.5 but kept the pre-6.4 meaning.
    root = make_tree(tmp_path, "6.5.0", MMZONE_6_1)
    info = read_tree_info(root)
    assert (info.semantics, info.semantics_source) == ("exclusive", "include/linux/mmzone.h:11")
    assert len(info.notes) == 1
    assert "Makefile version 6.5.0 implies inclusive; trusting mmzone.h" in info.notes[0]


def test_holes_come_from_mmzone_when_the_makefile_disagrees(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "5.10.240", MMZONE_6_1)  # no pfn_valid_within()
    info = read_tree_info(root)
    assert info.holes_in_zone_era is False
    assert any("pfn_valid_within" in note for note in info.notes)


def test_unrecognised_mmzone_falls_back_to_the_version(tmp_path: Path) -> None:
    weird = MMZONE_6_5.replace("(1 << MAX_ORDER)", "(2UL << MAX_ORDER)")
    root = make_tree(tmp_path, "6.5.13", weird)
    info = read_tree_info(root)
    assert (info.semantics, info.semantics_source) == ("inclusive", "Makefile version 6.5")
    assert info.notes == (
        "include/linux/mmzone.h: MAX_ORDER_NR_PAGES (2UL<<MAX_ORDER); "
        "cannot tell MAX_ORDER semantics",
    )


def test_renamed_spelling_without_nr_page_orders_is_not_trusted(tmp_path: Path) -> None:
    half_renamed = MMZONE_6_12.replace("NR_PAGE_ORDERS", "NR_ORDERS")
    root = make_tree(tmp_path, "6.12.117", half_renamed)
    info = read_tree_info(root)
    assert info.semantics_source == "Makefile version 6.12"
    assert info.semantics == "inclusive-renamed"
    assert "cannot tell" in info.notes[0]


def test_binary_mmzone_is_ignored(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "6.1.119", b"\x7fELF\x00\x00\xff\xfe" * 64)
    info = read_tree_info(root)
    assert (info.semantics, info.semantics_source) == ("exclusive", "Makefile version 6.1")
    assert info.holes_in_zone_era is False
    assert info.notes == ("include/linux/mmzone.h: binary file, ignored",)


def test_binary_makefile_is_ignored(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "6.5.13", MMZONE_6_5)
    (root / "Makefile").write_bytes(b"VERSION = 6\x00\xff\nPATCHLEVEL = 5\n")
    info = read_tree_info(root)
    assert info.version is None
    assert (info.semantics, info.semantics_source) == ("inclusive", "include/linux/mmzone.h:11")
    assert info.notes == ("Makefile: binary file, ignored",)


def test_non_utf8_makefile_still_gives_its_version(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "6.5.13", MMZONE_6_5)
    text = makefile("6.5.13").replace("Baby Opossum Posse", "Caf\xe9")
    (root / "Makefile").write_bytes(text.encode("latin-1"))
    assert read_tree_info(root).version == (6, 5, 13)


def test_missing_files_are_notes_not_errors(tmp_path: Path) -> None:
    info = read_tree_info(tmp_path)
    assert (info.version, info.semantics, info.holes_in_zone_era) == (None, None, None)
    assert info.notes == ("Makefile: missing", "include/linux/mmzone.h: missing")


def test_version_is_read_from_the_top_of_the_makefile_only(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "6.5.13", MMZONE_6_5)
    (root / "Makefile").write_text("#\n" * 30 + makefile("6.5.13"))
    info = read_tree_info(root)
    assert info.version is None
    assert info.notes == ("Makefile: no VERSION/PATCHLEVEL in the first 20 lines",)
