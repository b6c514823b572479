"""The per-file facts cache: hits, misses, invalidation, damage, sharing, the CLI."""

from __future__ import annotations

import builtins
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from snippets import WALK
from typer.testing import CliRunner

from kscan.cli import app
from kscan.engine import Options, Progress, scan
from kscan.facts import cache, cache_format
from kscan.facts.cache import FactsCache
from kscan.facts.cache_format import MISS
from kscan.facts.records import FileFacts

DEMO = Path(__file__).resolve().parent / "fixtures" / "demo"
OLD = time.time() - 3600  # an mtime old enough for the stat index


def copy_tree(dst: Path) -> Path:
    shutil.copytree(DEMO, dst)
    for top, _, names in os.walk(dst):
        for name in names:
            os.utime(os.path.join(top, name), (OLD, OLD))
    return dst


def entries(root: Path) -> list[tuple[str, str]]:
    files = sorted(root.rglob("*.[ch]"))
    return [(str(p), p.relative_to(root).as_posix()) for p in files]


def findings(root: Path, **kw) -> tuple[list, list[str]]:
    result = scan(Options(paths=[str(root)], jobs=1, **kw)).result
    return [(f.rule_id, f.location.path, f.location.line) for f in result.findings], [
        w for w in result.warnings if "cache" in w
    ]


def lookup(root: Path) -> dict:
    store = FactsCache.open(pytest.fail)
    try:
        return store.get_many(entries(root))
    finally:
        store.close()


@pytest.fixture
def tree(tmp_path) -> Path:
    return copy_tree(tmp_path / "tree")


def test_cold_then_warm_hits_with_the_same_findings(tree, private_cache):
    assert set(lookup(tree).values()) == {MISS}
    cold, warnings = findings(tree)
    assert cold and not warnings
    got = lookup(tree)
    assert MISS not in got.values()
    assert all(isinstance(f, FileFacts) and f.path == rel for rel, f in got.items())
    assert findings(tree) == (cold, [])
    assert cache.db_path().parent == private_cache


def test_warm_run_reads_no_unchanged_file(tree, monkeypatch):
    findings(tree)

    def refuse(*args, **kwargs):
        raise AssertionError(f"read {args[0]}")

    with monkeypatch.context() as m:
        m.setattr(builtins, "open", refuse)
        m.setattr(Path, "read_bytes", refuse)
        got = lookup(tree)
    assert MISS not in got.values()


def test_content_change_is_a_miss_and_touch_is_not(tree):
    findings(tree)
    walks = tree / "mm" / "hole_walks.c"
    walks.write_text(walks.read_text() + "\n/* changed */\n")
    os.utime(walks, (OLD + 1, OLD + 1))
    blocks = tree / "mm" / "block_walks.c"
    os.utime(blocks, (OLD + 2, OLD + 2))  # same bytes, new stat: found by content
    got = lookup(tree)
    assert [rel for rel, f in got.items() if f is MISS] == ["mm/hole_walks.c"]


def test_recent_mtime_is_not_trusted(tree):
    walks = tree / "mm" / "hole_walks.c"
    os.utime(walks)  # now: could change again within the timestamp granularity
    findings(tree)
    conn = sqlite3.connect(cache.db_path())
    indexed = {p for (p,) in conn.execute("SELECT path FROM files")}
    conn.close()
    assert str(walks) not in indexed and str(tree / "mm" / "page_walks.c") in indexed
    assert MISS not in lookup(tree).values()  # still a hit, by content


def test_fingerprint_reads_every_fact_module():
    """A module the fingerprint names but cannot find would leave its edits unseen."""
    for name in cache_format.FACT_MODULES:
        assert list(cache_format.package_dir().glob(name)), name


def test_fingerprint_change_is_a_miss(tree, monkeypatch):
    findings(tree)
    assert len(cache_format.fact_layer_fingerprint()) == 16
    monkeypatch.setattr(cache, "fact_layer_fingerprint", lambda: "0123456789abcdef")
    assert set(lookup(tree).values()) == {MISS}
    findings(tree)  # rewrites, and drops the other fingerprint's entries
    conn = sqlite3.connect(cache.db_path())
    keys = [k for (k,) in conn.execute("SELECT key FROM facts")]
    conn.close()
    assert keys and all(k.endswith("0123456789abcdef") for k in keys)


def scan_lookups(root: Path, monkeypatch) -> dict[str, int]:
    """The cache's hits and misses for a scan's files (its first round)."""
    seen = []
    real = FactsCache.get_many

    def spy(self, entries):
        found = real(self, entries)
        seen.append(dict(self.stats))
        return found

    with monkeypatch.context() as m:
        m.setattr(FactsCache, "get_many", spy)
        findings(root)
    return seen[0]


@pytest.mark.parametrize("command", [["hotspots"], ["graph"], ["scan", "--no-prefilter"]])
def test_other_commands_keep_the_scans_facts(tree, monkeypatch, command):
    """hotspots, graph and --no-prefilter keep their facts beside the scan's: the scan
    after them is all hits."""
    first = scan_lookups(tree, monkeypatch)
    assert first["misses"] == len(entries(tree))
    result = CliRunner().invoke(app, [*command, str(tree), "-j", "1"])
    assert result.exit_code in (0, 1), result.output
    assert scan_lookups(tree, monkeypatch) == {
        "hits": len(entries(tree)),
        "misses": 0,
        "read": 0,
    }


def test_warm_hotspots_reads_every_file_from_the_cache(tree, monkeypatch):
    """Both kinds a hotspots run reads (the scan's facts, every file's calls) are hits
    the second time; the scan after it is all hits too."""
    lookups = []
    real = FactsCache.get_many

    def spy(self, entries):
        found = real(self, entries)
        lookups.append((self.suffix[16:], self.stats["hits"], self.stats["misses"]))
        return found

    command = ["hotspots", str(tree), "-j", "1"]
    files = len(entries(tree))
    with monkeypatch.context() as m:
        m.setattr(FactsCache, "get_many", spy)
        assert CliRunner().invoke(app, command).exit_code == 0
        assert lookups == [("", 0, files), ("+calls", 0, files)]
        lookups.clear()
        assert CliRunner().invoke(app, command).exit_code == 0
        assert lookups == [("", files, 0), ("+calls", files, 0)]
    assert scan_lookups(tree, monkeypatch)["hits"] == files


def test_same_content_at_two_paths_gets_each_path(tree):
    shutil.copy(tree / "mm" / "page_walks.c", tree / "mm" / "copy.c")
    findings(tree)
    got = lookup(tree)
    assert got["mm/copy.c"].path == "mm/copy.c"
    assert got["mm/page_walks.c"].path == "mm/page_walks.c"


def test_irrelevant_sentinel_round_trips(tree):
    store = FactsCache.open(pytest.fail)
    items = entries(tree)
    store.get_many(items)
    store.put_many((path, f"{i:032x}", None) for i, (path, _) in enumerate(items))
    got = store.get_many(items)
    store.close()
    assert set(got.values()) == {None}


def test_a_file_no_rule_can_use_is_not_pickled_again(tree, monkeypatch):
    """Most files of a tree hold nothing a rule can use: each is the stored sentinel."""
    store = FactsCache.open(pytest.fail)
    items = entries(tree)
    store.get_many(items)

    def refuse(*args, **kwargs):
        raise AssertionError("pickled None again")

    with monkeypatch.context() as m:
        m.setattr(cache_format.pickle, "dumps", refuse)
        store.put_many((path, f"{i:032x}", None) for i, (path, _) in enumerate(items))
    assert set(store.get_many(items).values()) == {None}
    store.close()


def test_blobs_are_encoded_one_at_a_time_as_written(tree, monkeypatch):
    """A whole tree's blobs are never all held at once before the write."""

    class Blob(bytes):
        live = most = 0

        def __new__(cls, value: bytes) -> Blob:
            Blob.live += 1
            Blob.most = max(Blob.most, Blob.live)
            return super().__new__(cls, value)

        def __del__(self) -> None:
            Blob.live -= 1

    encode = cache.encode
    monkeypatch.setattr(cache, "encode", lambda facts: Blob(encode(facts)))
    store = FactsCache.open(pytest.fail)
    items = entries(tree)
    store.get_many(items)
    store.put_many((path, f"{i:032x}", FileFacts(rel)) for i, (path, rel) in enumerate(items))
    assert len(items) > 2 and Blob.most <= 2
    assert MISS not in store.get_many(items).values()
    store.close()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_blob_is_rebuilt(tree, damage):
    cold, _ = findings(tree)
    conn = sqlite3.connect(cache.db_path())
    if damage == "truncate":
        conn.execute("UPDATE facts SET blob = substr(blob, 1, length(blob) / 2)")
    elif damage == "garbage":
        conn.execute("UPDATE facts SET blob = randomblob(200)")
    else:
        conn.execute("UPDATE facts SET blob = x''")
    conn.commit()
    conn.close()
    assert set(lookup(tree).values()) == {MISS}
    assert findings(tree) == (cold, [])
    assert MISS not in lookup(tree).values()


def test_blob_checksum_catches_a_flipped_byte():
    blob = bytearray(cache_format.encode(FileFacts("a.c", lines=3)))
    assert cache_format.decode(bytes(blob)).lines == 3
    blob[-1] ^= 1
    assert cache_format.decode(bytes(blob)) is MISS
    assert cache_format.decode(b"KSF1") is MISS


@pytest.mark.parametrize("junk", [b"this is not a database" * 500, b""])
def test_garbage_database_warns_and_rebuilds(tree, junk):
    cold, _ = findings(tree)
    cache.db_path().write_bytes(junk)
    for suffix in ("-wal", "-shm"):
        Path(f"{cache.db_path()}{suffix}").unlink(missing_ok=True)
    got, warnings = findings(tree)
    assert got == cold
    if junk:
        assert len(warnings) == 1 and "corrupt" in warnings[0] and "rebuilding" in warnings[0]
    assert MISS not in lookup(tree).values()
    conn = sqlite3.connect(cache.db_path())
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def _make_read_only(path: Path):
    if os.geteuid() != 0:
        path.chmod(0o555)
        return lambda: path.chmod(0o755)
    if shutil.which("chattr") is None:
        pytest.skip("root without chattr cannot make a read-only directory")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode:
        pytest.skip(f"chattr +i failed: {done.stderr.decode().strip()}")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize("existing", [False, True])
def test_read_only_cache_dir_means_no_cache_with_one_warning(tree, private_cache, existing):
    reference, _ = findings(tree, cache=False)
    private_cache.mkdir(parents=True, exist_ok=True)
    if existing:
        findings(tree)
    undo = _make_read_only(private_cache)
    try:
        got, warnings = findings(tree)
        again, more = findings(tree)
    finally:
        undo()
    assert got == again == reference
    assert len(warnings) == 1 and warnings[0].startswith("cache disabled:"), warnings
    assert more == []  # once per process


def test_unusable_cache_home_means_no_cache(tree, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    reference, _ = findings(tree, cache=False)
    got, warnings = findings(tree)
    assert got == reference
    assert len(warnings) == 1 and "cannot create" in warnings[0]


def test_relative_xdg_cache_home_is_ignored(monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    assert cache.cache_dir() == Path.home() / ".cache" / "kscan"


SCANNER = """
import json, sys
from kscan.engine import Options, scan
for _ in range(int(sys.argv[2])):
    result = scan(Options(paths=[sys.argv[1]], jobs=1)).result
    print(json.dumps([[f.rule_id, f.location.path, f.location.line] for f in result.findings]
                     + [w for w in result.warnings if "cache" in w]))
"""


def test_concurrent_writers_never_corrupt(tmp_path):
    trees = [copy_tree(tmp_path / f"tree{i}") for i in range(2)]
    for extra in range(12):  # more files: longer write transactions
        for t in trees:
            shutil.copy(t / "mm" / "page_walks.c", t / "mm" / f"extra{extra}.c")
            # older than the index's 2 s racy window, or a fast run leaves them unindexed
            os.utime(t / "mm" / f"extra{extra}.c", (time.time() - 60, time.time() - 60))
    reference, _ = findings(trees[0], cache=False)
    outputs = []
    for _round in range(3):
        cache.clear()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", SCANNER, str(trees[i % 2]), "2"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(4)
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            outputs += out.splitlines()
    expected = json.dumps([list(f) for f in reference])
    assert outputs and all(line == expected for line in outputs)
    conn = sqlite3.connect(cache.db_path())
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 2 * len(entries(trees[0]))
    conn.close()
    assert MISS not in lookup(trees[1]).values()


runner = CliRunner()


def test_no_cache_writes_nothing(tree, private_cache):
    result = runner.invoke(app, ["scan", str(tree), "-f", "json", "--no-cache", "-j", "1"])
    assert result.exit_code == 1, result.output
    assert not private_cache.exists() or not any(private_cache.iterdir())


def test_cli_same_report_warm_as_cold_and_cache_clear(tree, private_cache):
    def report():
        result = runner.invoke(app, ["scan", str(tree), "-f", "json", "-j", "1"])
        assert result.exit_code == 1, result.output
        data = json.loads(result.stdout)
        data.pop("stats")
        return data

    cold = report()
    assert report() == cold
    keep = private_cache / "kernels" / "linux" / "Makefile"  # not the cache's: stays
    keep.parent.mkdir(parents=True)
    keep.write_text("x")
    info = runner.invoke(app, ["cache", "info"])
    assert info.exit_code == 0 and str(cache.db_path()) in info.stdout
    assert "facts entries: 4 (4 for this kscan)" in info.stdout
    cleared = runner.invoke(app, ["cache", "clear"])
    assert cleared.exit_code == 0
    assert f"removed {cache.db_path()}" in cleared.stdout
    assert keep.exists() and not cache.cache_files()
    again = runner.invoke(app, ["cache", "clear"])
    assert again.exit_code == 0 and "no cache to remove" in again.stdout
    assert report() == cold


# --- an interrupted scan ---------------------------------------------------------------


def walks_tree(root: Path, count: int) -> Path:
    """`count` files of four PFN walks each: all different, all of one size (so the
    workers take them in order)."""
    (root / "mm").mkdir(parents=True)
    for i in range(count):
        text = "".join(WALK.replace("mark(", f"mark{i:03}_{j}(") for j in range(4))
        (root / "mm" / f"walk{i:03}.c").write_text(text)
    return root


class InterruptAfter(Progress):
    """Ctrl-C once `files` files are done, as the parent sees them come back."""

    def __init__(self, files: int) -> None:
        self.left = files

    def advance(self, n: int) -> None:
        self.left -= n
        if self.left <= 0:
            raise KeyboardInterrupt


def marking_unit(from_bytes, path: str, rel: str, **kwargs):
    """The cache's unit, leaving a mark for each file it parses (workers are processes)."""
    (Path(os.environ["KSCAN_TEST_MARKS"]) / Path(rel).name).touch()
    return cache.keyed(from_bytes, path, rel, **kwargs)


@pytest.mark.parametrize("jobs", [1, 2], ids=["in-process", "workers"])
def test_an_interrupted_scan_keeps_what_it_parsed(tmp_path, monkeypatch, jobs):
    root = walks_tree(tmp_path / "tree", 120)
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("KSCAN_TEST_MARKS", str(marks))
    monkeypatch.setattr(FactsCache, "unit", staticmethod(marking_unit))
    with pytest.raises(KeyboardInterrupt):
        scan(Options(paths=[str(root)], jobs=jobs), InterruptAfter(8))
    # the workers stopped (leaving the pool's block waited for all of them); how far
    # they got past the parent depends on the machine's load
    assert len(list(marks.iterdir())) <= 60
    kept = cache.info()["current"]
    assert kept >= 7  # the files done before the interrupt (less the last batch's)
    for mark in marks.iterdir():
        mark.unlink()
    scan(Options(paths=[str(root)], jobs=1))
    assert len(list(marks.iterdir())) == 120 - kept  # the others are cache hits
