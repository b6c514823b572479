"""Per-file facts cache: parse a file once per content and kscan version.

The store is stdlib sqlite3, on purpose: a well-kept store that gives atomic
transactions (a killed kscan never leaves half an entry) and safe concurrent access
(WAL mode and a busy timeout: two kscans sharing the cache never corrupt it) for free.
It lives at `$XDG_CACHE_HOME/kscan/facts-v<N>.sqlite` (default ~/.cache/kscan).

Two tables:

* ``facts(key, blob)``: entries as kscan/facts/cache_format.py makes them; a blob that
  fails its check is a miss that gets overwritten.  Files the prefilter found
  irrelevant are cached too, so warm runs skip them.  Each kind of facts (a key
  suffix) lives beside the others: one command never evicts another's, and an entry
  only ever holds what its own kind makes of the content, so no command changes
  what another reads (a scan's report does not depend on what ran before it).
* ``files(path, size, mtime_ns, ctime_ns, ino, digest)``: a stat index, so a warm run
  reads no unchanged file.  A file whose mtime is too recent to be trusted (it might
  change again within the timestamp granularity) is not indexed.

The parent process does every lookup and write (one SELECT, one transaction); workers
only parse the misses and return the digest of the bytes they parsed.  Problems
(unreadable, binary) are not cached.  Any sqlite trouble disables the cache with one
warning, never a traceback: a corrupt database file is removed and rebuilt; a
read-only or unwritable one means "no cache".
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, TypeVar

from kscan.facts.cache_format import (
    MISS,
    Miss,
    content_digest,
    decode,
    encode,
    fact_layer_fingerprint,
    keyed,
)
from kscan.facts.records import FileCalls, FileFacts

if TYPE_CHECKING:
    from kscan.facts.workers import Parsed

SCHEMA = 3  # bumped: a follow-up round's answers are a kind of facts, no `checked` table
_CHUNK = 900  # sqlite host parameters per statement
_RACY_SECONDS = 2.0  # an mtime this recent is not trusted for the stat index
_BUSY_MS = 30_000

_warned: set[str] = set()  # one warning per process per problem (series scans many times)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or ""
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "kscan"


def db_path() -> Path:
    return cache_dir() / f"facts-v{SCHEMA}.sqlite"


# -- the store -------------------------------------------------------------------------


class CacheError(Exception):
    pass


_Stat = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, ino
_Row = tuple[_Stat, str, bytes | None]  # a file's stat and digest, and its facts' blob
Cached = FileFacts | FileCalls | None | Miss  # a file's facts, None (irrelevant), or MISS
_T = TypeVar("_T")


class FactsCache:
    """One scan's view of the store; open() it, get_many, put_many, close."""

    unit = staticmethod(keyed)  # what the workers run for a scan with a cache

    def __init__(self, path: Path, warn: Callable[[str], None], kind: str = ""):
        self.path = path
        self.warn = warn
        self.fingerprint = fact_layer_fingerprint()
        self.suffix = self.fingerprint + kind  # of this kind's keys, after the digest
        self.disabled = False
        self.stats = {"hits": 0, "misses": 0, "read": 0}
        self._conn: sqlite3.Connection | None = None
        self._stat_taken: dict[str, _Stat | None] = {}  # path -> stat, once per run
        self._known: dict[str, tuple[_Stat | None, str | None]] = {}  # path -> stat, digest
        self._current: set[str] = set()  # paths whose index row matched: nothing to write

    # connection handling

    @classmethod
    def open(cls, warn: Callable[[str], None], kind: str = "") -> FactsCache | None:
        """The cache of one kind of facts (a key suffix, kscan/engine.py), or None (after
        one warning) if it cannot be used."""
        cache = cls(db_path(), warn, kind)
        try:
            cache._connect()
        except CacheError as err:
            cache._warn_once(f"cache disabled: {err}")
            return None
        return cache

    def of_kind(self, kind: str) -> FactsCache:
        """The same store's view of another kind of facts, in the same run: the files'
        stats are taken once for both."""
        other = FactsCache(self.path, self.warn, kind)
        other.disabled = self.disabled
        other._stat_taken = self._stat_taken
        return other

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CacheError(f"cannot create {self.path.parent}: {err.strerror or err}") from None
        for attempt in (1, 2):
            try:
                self._conn = self._setup(sqlite3.connect(self.path, timeout=_BUSY_MS / 1000))
                return self._conn
            except sqlite3.DatabaseError as err:
                self._drop_connection()
                if attempt == 2 or not _is_corrupt(err):
                    raise CacheError(f"{self.path}: {_describe(err)}") from None
                self._warn_once(f"cache {self.path} was corrupt ({err}); rebuilding it")
                self._remove_files()
        raise AssertionError("unreachable")

    def _setup(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        conn.isolation_level = None  # explicit transactions only
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable enough, never corrupt
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'files'").fetchone():
            with _transaction(conn):
                conn.execute("CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, blob BLOB)")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INT, "
                    "mtime_ns INT, ctime_ns INT, ino INT, digest TEXT)"
                )
                conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        return conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        """Close the connection: call before forking workers, reconnect is automatic."""
        self._drop_connection()

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass
            except OSError as err:
                raise CacheError(f"cannot remove {self.path}: {err.strerror or err}") from None

    def _warn_once(self, message: str) -> None:
        if message not in _warned:
            _warned.add(message)
            self.warn(message)

    def _run(self, work: Callable[[sqlite3.Connection], _T], default: _T) -> _T:
        """work(conn), or default if the cache fails (which disables it, with a warning)."""
        if self.disabled:
            return default
        for attempt in (1, 2):
            try:
                return work(self._connect())
            except CacheError as err:
                self._warn_once(f"cache disabled: {err}")
                break
            except sqlite3.DatabaseError as err:
                self._drop_connection()
                if attempt == 1 and _is_corrupt(err):
                    self._warn_once(f"cache {self.path} was corrupt ({err}); rebuilding it")
                    try:
                        self._remove_files()
                    except CacheError as gone:
                        self._warn_once(f"cache disabled: {gone}")
                        break
                    continue
                self._warn_once(f"cache disabled: {self.path}: {_describe(err)}")
                break
        self.disabled = True
        self._drop_connection()
        return default

    # lookups

    def get_many(self, entries: Sequence[tuple[str, str]]) -> dict[str, Cached]:
        """{rel: facts (FileFacts, FileCalls or None) or MISS} for (path, rel) entries.

        Unchanged files (same stat as indexed) are not read; changed or new ones are read
        and hashed here, so a touched or copied file is still a hit.
        """
        out: dict[str, Cached] = dict.fromkeys((rel for _, rel in entries), MISS)
        taken = self._stat_taken
        stats = {path: taken[path] if path in taken else _stat(path) for path, _ in entries}
        taken.update(stats)
        self._known = {path: (stat, None) for path, stat in stats.items()}
        self._current = set()
        rows: dict[str, _Row] = self._run(lambda conn: self._indexed(conn, list(stats)), {})
        if self.disabled:
            return out
        unread: list[tuple[str, str]] = []
        for path, rel in entries:
            row = rows.pop(path, None)  # its blob goes once decoded: a tree's are 90 MB
            stat = stats[path]
            if row is not None and stat is not None and row[0] == stat:
                self._known[path] = (stat, row[1])
                self._current.add(path)
                facts = decode(row[2])  # MISS: parse (the digest is known, no need to read)
                if facts is not MISS:
                    out[rel] = _placed(facts, rel)
            elif stat is not None:
                unread.append((path, rel))
        if unread:
            self._by_content(unread, out)
        self.stats["hits"] = sum(v is not MISS for v in out.values())
        self.stats["misses"] = len(out) - self.stats["hits"]
        return out

    def _indexed(self, conn: sqlite3.Connection, paths: list[str]) -> dict[str, _Row]:
        rows = {}
        for i in range(0, len(paths), _CHUNK):
            chunk = paths[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for path, size, mtime, ctime, ino, digest, blob in conn.execute(
                "SELECT files.path, size, mtime_ns, ctime_ns, ino, digest, facts.blob "
                "FROM files LEFT JOIN facts ON facts.key = files.digest || ? "
                f"WHERE files.path IN ({marks})",
                [self.suffix, *chunk],
            ):
                rows[path] = ((size, mtime, ctime, ino), digest, blob)
        return rows

    def _by_content(self, unread: list[tuple[str, str]], out: dict[str, Cached]) -> None:
        digests: dict[str, str] = {}
        for path, _ in unread:
            try:
                with open(path, "rb") as f:
                    digests[path] = content_digest(f.read())
            except OSError:
                continue
            self._known[path] = (self._known[path][0], digests[path])
        self.stats["read"] += len(digests)
        keys = sorted({d + self.suffix for d in digests.values()})
        blobs: dict[str, bytes] = self._run(lambda conn: self._blobs(conn, keys), {})
        for path, rel in unread:
            digest = digests.get(path)
            facts = decode(blobs.get(digest + self.suffix)) if digest else MISS
            if facts is not MISS:
                out[rel] = _placed(facts, rel)

    def _blobs(self, conn: sqlite3.Connection, keys: list[str]) -> dict[str, bytes]:
        blobs: dict[str, bytes] = {}
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            blobs.update(conn.execute(f"SELECT key, blob FROM facts WHERE key IN ({marks})", chunk))
        return blobs

    # writes

    def put_many(self, results: Iterable[tuple[str, str | None, object]]) -> None:
        """Store (path, digest of the bytes parsed, facts) and index the files seen by get_many.

        Facts stored are FileFacts, FileCalls or None; a Problem is not cached.
        """
        now = time.time_ns()
        entries: dict[str, FileFacts | FileCalls | None] = {}  # encoded as written
        known = dict(self._known)
        for path, digest, facts in results:
            if digest is None or not (facts is None or isinstance(facts, FileFacts | FileCalls)):
                known.pop(path, None)
                continue
            entries[digest + self.suffix] = facts
            known[path] = (known.get(path, (None, None))[0], digest)
        index = [
            (path, *stat, digest)
            for path, (stat, digest) in known.items()
            if stat is not None and digest is not None and now - stat[1] > _RACY_SECONDS * 1e9
        ]
        index = [row for row in index if row[0] not in self._current]
        if not entries and not index:
            return
        self._run(lambda conn: self._write(conn, entries, index), None)

    def _write(
        self,
        conn: sqlite3.Connection,
        entries: dict[str, FileFacts | FileCalls | None],
        index: list[tuple[str, int, int, int, int, str]],
    ) -> None:
        with _transaction(conn):
            old = conn.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
            if old is None or old[0] != self.fingerprint:
                # A cache holds one fact layer (of every kind): another kscan version's
                # entries go.
                conn.execute(
                    "DELETE FROM facts WHERE substr(key, 33, 16) != ?", (self.fingerprint,)
                )
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (self.fingerprint,)
                )
            # one blob at a time: a whole tree's would all be held at once
            blobs = ((key, encode(facts)) for key, facts in entries.items())
            conn.executemany("INSERT OR REPLACE INTO facts VALUES (?, ?)", blobs)
            conn.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", index)

    # the pipeline's entry point

    def parse_all(
        self,
        items: Sequence[tuple[str, str]],
        parse: Callable[[list[tuple[str, str]]], Iterable[tuple[str | None, Parsed]]],
        advance: Callable[[int], None] = lambda n: None,
    ) -> Iterator[Parsed]:
        """Results for (path, rel) items in order: cached ones, else parse(misses)'s."""
        found = self.get_many(items)
        missing = [item for item in items if found[item[1]] is MISS]
        advance(len(items) - len(missing))
        self.close()  # no sqlite connection across the workers' fork
        fresh: dict[str, Parsed] = {}
        done = []
        results = parse(missing)
        try:
            for (path, rel), (digest, result) in zip(missing, results, strict=True):
                fresh[rel] = result
                done.append((path, digest, result))
        finally:  # interrupted too: what was parsed by then is kept for the next run
            if hasattr(results, "close"):
                results.close()  # stop the workers first
            self.put_many(done)
            self.close()
        for _, rel in items:
            value = found[rel]
            yield fresh[rel] if value is MISS else value


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (BEGIN IMMEDIATE): all of it or none."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _stat(path: str) -> _Stat | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _placed(facts: FileFacts | FileCalls | None, rel: str) -> FileFacts | FileCalls | None:
    if facts is not None:
        facts.path = rel
    return facts


def _is_corrupt(err: sqlite3.DatabaseError) -> bool:
    name = getattr(err, "sqlite_errorname", "")
    if name:
        return name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or name.startswith("SQLITE_CORRUPT_")
    return not isinstance(err, sqlite3.OperationalError)


def _describe(err: sqlite3.DatabaseError) -> str:
    name = getattr(err, "sqlite_errorname", "")
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")):
        return f"not writable ({err})"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return f"busy for {_BUSY_MS // 1000} s ({err})"
    return str(err)


# -- kscan cache info / clear -----------------------------------------------------------


def cache_files() -> list[Path]:
    """The cache's own files (every schema version); never anything else in the directory."""
    where = cache_dir()
    try:
        names = sorted(os.listdir(where))
    except OSError:
        return []
    return [
        where / n
        for n in names
        if n.startswith("facts-v") and n.endswith((".sqlite", ".sqlite-wal", ".sqlite-shm"))
    ]


def clear() -> list[tuple[Path, int]]:
    """Remove the cache files; (path, bytes) of each removed.  Raises OSError."""
    removed = []
    for path in cache_files():
        size = path.stat().st_size
        path.unlink()
        removed.append((path, size))
    return removed


class CacheInfo(TypedDict, total=False):
    path: str
    bytes: int
    files: int
    entries: int
    current: int
    error: str  # the database could not be read


def info() -> CacheInfo:
    path = db_path()
    out: CacheInfo = {
        "path": str(path),
        "bytes": sum(p.stat().st_size for p in cache_files() if p.exists()),
        "files": 0,
        "entries": 0,
        "current": 0,
    }
    if not path.exists():
        return out
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=_BUSY_MS / 1000)
        try:
            fingerprint = fact_layer_fingerprint()
            out["entries"] = conn.execute("SELECT count(*) FROM facts").fetchone()[0]
            out["current"] = conn.execute(
                "SELECT count(*) FROM facts WHERE substr(key, 33, 16) = ?", (fingerprint,)
            ).fetchone()[0]
            out["files"] = conn.execute("SELECT count(*) FROM files").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        out["error"] = str(err)
    return out


def info_lines() -> list[str]:
    """`kscan cache info`: where the cache is, its size and entries."""
    facts = info()
    lines = [
        f"path: {facts['path']}",
        f"size: {_size(facts['bytes'])}",
        f"facts entries: {facts['entries']} ({facts['current']} for this kscan)",
        f"indexed files: {facts['files']}",
    ]
    if "error" in facts:
        lines.append(f"error: {facts['error']}")
    return lines


def clear_lines() -> list[str]:
    """`kscan cache clear`: remove the cache, say what went.  Raises OSError."""
    removed = clear()
    if not removed:
        return [f"no cache to remove in {cache_dir()}"]
    return [f"removed {path} ({_size(size)})" for path, size in removed]


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"
