"""discover(): which files a scan reads, built on small trees in tmp_path."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from kscan.discover.files import DiscoverError, SourceFile, discover


def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("int x;\n")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "linux"
    touch(
        root,
        "mm/page_alloc.c",
        "mm/internal.h",
        "mm/Makefile",
        "mm/Kconfig",
        "mm/damon/core.c",
        "drivers/virtio/virtio_mem.c",
        "drivers/virtio/virtio_ring.c",
        "drivers/net/virtio_net.c",
        "drivers/net/e1000.c",
        "drivers/gpu/drm/amd/gc_9_0_sh_mask.h",
        "drivers/gpu/drm/drm_gem.c",
        "include/linux/mmzone.h",
        ".git/hooks/pre-commit.c",
    )
    return root


def rels(files: list[SourceFile]) -> list[str]:
    return [f.rel for f in files]


def run_with_deadline(*args, **kwargs) -> tuple[list[SourceFile], list[str]]:
    """discover() in a thread, so a walk that loops fails the test instead of hanging it."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(out=discover(*args, **kwargs)))
    thread.daemon = True
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "discover() did not finish"
    return result["out"]


def test_directory_yields_sorted_c_and_h_files(tree: Path) -> None:
    files, warnings = discover([str(tree / "mm")], tree)
    assert rels(files) == ["mm/damon/core.c", "mm/internal.h", "mm/page_alloc.c"]
    assert files[2].path == tree / "mm/page_alloc.c"
    assert files[2].path.is_absolute()
    assert warnings == []


def test_whole_tree_skips_git(tree: Path) -> None:
    files, _ = discover([str(tree)], tree)
    assert rels(files) == [
        "drivers/gpu/drm/amd/gc_9_0_sh_mask.h",
        "drivers/gpu/drm/drm_gem.c",
        "drivers/net/e1000.c",
        "drivers/net/virtio_net.c",
        "drivers/virtio/virtio_mem.c",
        "drivers/virtio/virtio_ring.c",
        "include/linux/mmzone.h",
        "mm/damon/core.c",
        "mm/internal.h",
        "mm/page_alloc.c",
    ]


def test_named_file_is_scanned_whatever_its_suffix(tree: Path) -> None:
    files, _ = discover([str(tree / "mm/Kconfig")], tree)
    assert rels(files) == ["mm/Kconfig"]


def test_glob_stays_in_one_directory(tree: Path) -> None:
    files, _ = discover([f"{tree}/mm/*.c"], tree)
    assert rels(files) == ["mm/page_alloc.c"]


def test_recursive_glob(tree: Path) -> None:
    files, _ = discover([f"{tree}/drivers/**/virtio*.c"], tree)
    assert rels(files) == [
        "drivers/net/virtio_net.c",
        "drivers/virtio/virtio_mem.c",
        "drivers/virtio/virtio_ring.c",
    ]


def test_recursive_glob_matches_zero_directories(tree: Path) -> None:
    files, _ = discover([f"{tree}/drivers/virtio/**/virtio_m*.c"], tree)
    assert rels(files) == ["drivers/virtio/virtio_mem.c"]


def test_glob_matching_a_directory_selects_what_is_below(tree: Path) -> None:
    files, _ = discover([f"{tree}/mm/dam?n"], tree)
    assert rels(files) == ["mm/damon/core.c"]


def test_relative_glob_from_cwd(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree / "drivers")
    files, _ = discover(["*/e1000.c"], tree)
    assert rels(files) == ["drivers/net/e1000.c"]


@pytest.mark.parametrize(
    ("pattern", "gone"),
    [
        ("drivers", {"drivers/"}),  # a directory name anywhere
        ("drivers/gpu/*", {"drivers/gpu/"}),  # a path below the root
        ("*_sh_mask.h", {"drivers/gpu/drm/amd/gc_9_0_sh_mask.h"}),  # a file name
        ("drivers/net", {"drivers/net/"}),  # a directory's whole path
    ],
)
def test_excludes(tree: Path, pattern: str, gone: set[str]) -> None:
    everything = rels(discover([str(tree)], tree)[0])
    files, _ = discover([str(tree)], tree, excludes=[pattern])
    expected = [rel for rel in everything if not any(rel.startswith(g) for g in gone)]
    assert rels(files) == expected
    assert len(expected) < len(everything)


def test_exclude_applies_to_a_named_directory_below_it(tree: Path) -> None:
    files, _ = discover([str(tree / "drivers/gpu/drm")], tree, excludes=["drivers/gpu"])
    assert files == []


def test_overlapping_arguments_are_deduplicated(tree: Path) -> None:
    files, _ = discover([str(tree / "mm"), f"{tree}/mm/*.c", str(tree / "mm/page_alloc.c")], tree)
    assert rels(files) == ["mm/damon/core.c", "mm/internal.h", "mm/page_alloc.c"]


@pytest.mark.parametrize("arg", ["mm/nope.c", "nope", "mm/*.rs", "nope/**/*.c"])
def test_missing_path_or_empty_glob_is_an_error(tree: Path, arg: str) -> None:
    with pytest.raises(DiscoverError) as raised:
        discover([str(tree / "mm"), f"{tree}/{arg}"], tree)
    assert str(raised.value) == f"no such file or directory: {tree}/{arg}"


def test_rel_is_relative_to_root_whatever_the_cwd(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree / "mm")
    files, _ = discover([".", "../include"], tree)
    assert rels(files) == [
        "include/linux/mmzone.h",
        "mm/damon/core.c",
        "mm/internal.h",
        "mm/page_alloc.c",
    ]


def test_rel_without_root_is_relative_to_cwd(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.parent)
    files, _ = discover([str(tree / "mm/damon")], None)
    assert rels(files) == ["linux/mm/damon/core.c"]


def test_rel_outside_cwd_and_root_is_absolute(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    files, _ = discover([str(tree / "mm/damon")], None)
    assert rels(files) == [f"{tree}/mm/damon/core.c"]


def test_symlink_loop_ends_with_one_warning(tree: Path) -> None:
    (tree / "mm/damon/loop").symlink_to("..")
    files, warnings = run_with_deadline([str(tree / "mm")], tree)
    assert rels(files) == ["mm/damon/core.c", "mm/internal.h", "mm/page_alloc.c"]
    assert len(warnings) == 1
    assert warnings[0].startswith("mm/damon/loop: skipped symlink loop")


def test_symlink_loop_is_bounded_even_when_following(tree: Path) -> None:
    (tree / "mm/self").symlink_to(".")
    files, warnings = run_with_deadline([str(tree / "mm")], tree, follow_symlinks=True)
    assert len(files) == 3
    assert len(warnings) == 1


def test_symlinks_leaving_the_root_are_skipped(tree: Path, tmp_path: Path) -> None:
    touch(tmp_path, "outside/evil.c")
    (tree / "mm/out").symlink_to(tmp_path / "outside")
    (tree / "mm/evil.c").symlink_to(tmp_path / "outside/evil.c")
    files, warnings = discover([str(tree / "mm")], tree)
    assert rels(files) == ["mm/damon/core.c", "mm/internal.h", "mm/page_alloc.c"]
    assert [w.split(":")[0] for w in warnings] == ["mm/evil.c", "mm/out"]
    assert all("outside" in w for w in warnings)


def test_follow_symlinks_allows_leaving_the_root(tree: Path, tmp_path: Path) -> None:
    touch(tmp_path, "outside/evil.c")
    (tree / "mm/out").symlink_to(tmp_path / "outside")
    files, warnings = discover([str(tree / "mm")], tree, follow_symlinks=True)
    assert "mm/out/evil.c" in rels(files)
    assert warnings == []


def test_symlink_inside_the_root_is_followed(tree: Path) -> None:
    (tree / "mm/inc").symlink_to("../include")
    files, warnings = discover([str(tree / "mm")], tree)
    assert "mm/inc/linux/mmzone.h" in rels(files)
    assert warnings == []


def test_without_root_symlinks_may_not_leave_the_given_path(tree: Path) -> None:
    (tree / "mm/inc").symlink_to("../include")
    files, warnings = discover([str(tree / "mm")], None)
    assert not any("mmzone.h" in f.rel for f in files)
    assert len(warnings) == 1
    assert "inc: skipped symlink" in warnings[0]


def test_alias_of_a_scanned_directory_is_not_scanned_twice(tree: Path) -> None:
    (tree / "aaa-alias").symlink_to("include")  # sorts before the real directory
    files, warnings = discover([str(tree)], tree)
    assert [f.rel for f in files if "mmzone" in f.rel] == ["include/linux/mmzone.h"]
    assert warnings == []


def test_symlinked_file_is_scanned_once(tree: Path) -> None:
    """A file and its in-tree alias give one file (else every finding twice); an alias
    of a file the scan does not reach otherwise is scanned under the alias's name."""
    (tree / "mm/alias.c").symlink_to("page_alloc.c")
    (tree / "mm/again.c").symlink_to("alias.c")
    (tree / "mm/virtio.c").symlink_to("../drivers/virtio/virtio_mem.c")
    (tree / "mm/virtio2.c").symlink_to("../drivers/virtio/virtio_mem.c")
    files, warnings = discover([str(tree / "mm")], tree)
    assert rels(files) == ["mm/damon/core.c", "mm/internal.h", "mm/page_alloc.c", "mm/virtio.c"]
    assert warnings == []
    files, _ = discover([str(tree / "mm"), str(tree / "drivers/virtio")], tree)
    assert "mm/virtio.c" not in rels(files) and "drivers/virtio/virtio_mem.c" in rels(files)
    files, _ = discover([str(tree / "mm/alias.c"), str(tree / "mm/page_alloc.c")], tree)
    assert rels(files) == ["mm/page_alloc.c"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.symlink_to(p.name), "symlink loop (too many levels of symbolic links)"),
        (lambda p: p.symlink_to("nowhere.c"), "broken symlink to nowhere.c"),
    ],
    ids=["loop", "broken"],
)
def test_bad_symlink_as_path_says_what_it_is(tree: Path, make, message) -> None:
    link = tree / "mm/bad.c"
    make(link)
    with pytest.raises(DiscoverError) as error:
        discover([str(link)], tree)
    assert str(error.value) == f"{link}: {message}"
    with pytest.raises(DiscoverError, match="no such file or directory"):
        discover([str(tree / "mm/missing.c")], tree)


def test_broken_c_symlink_warns(tree: Path) -> None:
    (tree / "mm/gone.c").symlink_to("nowhere.c")
    (tree / "mm/gone.txt").symlink_to("nowhere.txt")
    _, warnings = discover([str(tree / "mm")], tree)
    assert warnings == ["mm/gone.c: skipped broken symlink"]


def test_unreadable_directory_warns_and_continues(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chmod cannot lock out root, so refuse the directory at the scandir call instead.
    real_scandir = os.scandir

    def scandir(path):
        if os.fspath(path).endswith("damon"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    files, warnings = discover([str(tree / "mm")], tree)
    assert rels(files) == ["mm/internal.h", "mm/page_alloc.c"]
    assert warnings == ["mm/damon: cannot read (Permission denied)"]
