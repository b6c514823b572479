"""What a facts cache entry is: its key and its blob (kscan/facts/cache.py stores them).

key = blake2b(file bytes) + the fact-layer fingerprint: kscan's version, the sources
of the modules that produce facts and of the rules, and the tree-sitter grammar, so a
change to any of them is a miss; + the kind of facts (a scan's first round,
--no-prefilter's every-body facts, each file's part of the call graph for `kscan
hotspots` and `graph`, a follow-up round's for its words, a file read whole as context:
kscan/engine.py names them).  The kinds live side by side, and each key holds only what
its kind makes of the content.
blob = magic + CRC32 + zlib(pickle(facts)); a truncated or corrupt blob fails the
check or the unpickling and is a miss.  The facts may be None: a file the prefilter
found irrelevant is cached as such.

Workers hash the bytes they parse (keyed), so an entry never pairs a key with
facts from other bytes.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import struct
import zlib
from collections.abc import Callable
from enum import Enum
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from kscan.facts.records import FileCalls, FileFacts

if TYPE_CHECKING:
    from kscan.facts.workers import Problem

Made = TypeVar("Made")  # what a worker makes of a file's bytes

_MAGIC = b"KSF1"
_HEADER = struct.Struct(">4sI")  # magic, crc32 of the compressed payload
# The modules whose code shapes the facts, relative to the kscan package
FACT_MODULES = ("parse/*.py", "facts/*.py", "vocab.py", "discover/prefilter.py")


class Miss(Enum):
    """get_many's value for a file that must be parsed (a singleton the type checker
    can tell apart from facts)."""

    MISS = "MISS"

    def __repr__(self) -> str:
        return "MISS"


MISS: Final = Miss.MISS


def package_dir() -> Path:
    import kscan

    return Path(kscan.__file__).parent


@cache
def fact_layer_fingerprint() -> str:
    """What the facts depend on besides the file: computed once per process."""
    h = hashlib.blake2b(digest_size=8)
    import kscan

    h.update(kscan.__version__.encode())
    sources = [path for name in FACT_MODULES for path in sorted(package_dir().glob(name))]
    rules = find_spec("kscan.rules")
    for where in (rules.submodule_search_locations or []) if rules else []:
        sources += sorted(Path(where).glob("*.py"))
    for source in sources:
        try:
            h.update(source.name.encode() + b"\0" + source.read_bytes())
        except OSError:
            h.update(source.name.encode() + b"\0-")
    for package in ("tree_sitter", "tree_sitter_c"):  # the grammar shapes the facts too
        spec = find_spec(package)
        for where in (spec.submodule_search_locations or []) if spec else []:
            for entry in sorted(os.scandir(where), key=lambda e: e.name):
                if entry.is_file():
                    st = entry.stat()
                    h.update(f"{entry.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


# -- blobs -----------------------------------------------------------------------------


def encode(facts: FileFacts | FileCalls | None) -> bytes:
    """The blob of facts; None (a file no rule can use, most of a tree) is the one
    stored sentinel, not pickled and compressed again."""
    return _IRRELEVANT if facts is None else _pack(facts)


def _pack(facts: FileFacts | FileCalls | None) -> bytes:
    payload = zlib.compress(pickle.dumps(facts, pickle.HIGHEST_PROTOCOL), 1)
    return _HEADER.pack(_MAGIC, zlib.crc32(payload)) + payload


def decode(blob: bytes | None) -> FileFacts | FileCalls | None | Miss:
    """The facts in a blob, or MISS if it is absent, truncated or corrupt."""
    if blob == _IRRELEVANT:  # most files of a tree: skip zlib and pickle
        return None
    if not blob or len(blob) < _HEADER.size:
        return MISS
    magic, crc = _HEADER.unpack_from(blob)
    payload = memoryview(blob)[_HEADER.size :]
    if magic != _MAGIC or zlib.crc32(payload) != crc:
        return MISS
    try:
        facts: FileFacts | FileCalls | None = pickle.loads(zlib.decompress(payload))
        return facts
    except Exception:  # a blob from a foreign pickle, whatever it raises, is a miss
        return MISS


_IRRELEVANT = _pack(None)


# -- worker side -----------------------------------------------------------------------


def keyed(
    from_bytes: Callable[..., Made], path: str, rel: str, **options: Any
) -> tuple[str | None, Made | Problem]:
    """The worker's unit with a cache: (blake2b of the bytes read, from_bytes(the bytes,
    rel, **options)), from_bytes being kscan/facts/workers.py's facts_from_bytes or the
    like."""
    from kscan.facts.workers import Problem, read_source

    try:
        raw = read_source(path)
    except OSError as err:
        return None, Problem(rel, f"cannot read: {err.strerror or err}")
    return content_digest(raw), from_bytes(raw, rel, **options)


def content_digest(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()
