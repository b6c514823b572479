"""Parse files in worker processes and send back facts, never trees.

Each worker keeps one parser.  A file that cannot be read, is binary (has a NUL byte
early on) or makes the extractor fail becomes a one-line Problem instead of a crash.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from kscan.discover.files import SourceFile
from kscan.discover.prefilter import Prefilter
from kscan.facts.budget import FileBudget, OverBudget, within
from kscan.facts.extract import Watch, extract
from kscan.facts.file_calls import file_calls
from kscan.facts.preprocessor import defines
from kscan.facts.records import FileCalls, FileFacts
from kscan.parse.bodies import blank_comments, column0_bodies, parts
from kscan.parse.parser import blank_attributes, new_parser, parse
from kscan.reading import read_bytes

_BINARY_PROBE = 8192
# Larger files are skipped with a warning.  The largest real kernel sources, generated
# AMD register headers of ~24 MB of #defines, parse in ~3 s; a dense 50 MB C file
# takes ~1 min and 2 GB in one worker.
MAX_FILE_BYTES = 32 << 20
_BATCH = 64
Result = TypeVar("Result")  # what a unit of work returns for one file
_POOL_MIN = 32  # fewer files are parsed in this process: a pool costs more


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    reason: str


# a file's facts or its part of the call graph, why it has none, or None: irrelevant
Parsed = FileFacts | FileCalls | Problem | None


_parser = None
NO_BODIES = Prefilter(())  # as `bodies`: parse no kernel-style body


def from_file(
    from_bytes: Callable[..., Result], path: str, rel: str, **options: Any
) -> Result | Problem:
    """from_bytes(the file's bytes, rel, **options), or a Problem if it cannot be read."""
    try:
        raw = read_source(path)
    except OSError as err:
        return Problem(rel, f"cannot read: {err.strerror or err}")
    return from_bytes(raw, rel, **options)


def read_source(path: str) -> bytes:
    """A source's bytes: a pipe that took a file's place since it was found is refused,
    not waited on (kscan/reading.py)."""
    return read_bytes(path, MAX_FILE_BYTES)


def facts_from_bytes(
    raw: bytes,
    rel: str,
    prefilter: Prefilter | None = None,
    bodies: Prefilter | None = None,
    watch: Watch | None = None,
    budget: FileBudget | None = None,
) -> FileFacts | Problem | None:
    """The facts of a file's bytes (the cache's unit hashes the bytes it reads).
    None: `prefilter` says no rule can use this file, so it is not parsed.  `bodies`:
    leave out the function bodies it does not want (kscan/parse/bodies.py).  `watch`: the
    extra facts an analysis beyond the rules asks for (kscan/facts/extract.py).  A file
    that takes more than `budget` is a Problem (kscan/facts/budget.py); one over budget
    is never cached, so the next run tries it again, maybe with more budget."""
    global _parser
    if b"\0" in raw[:_BINARY_PROBE]:
        return Problem(rel, "binary file, skipped")
    if prefilter is not None and not prefilter.wants(raw, rel):  # most files stop here
        return None
    try:
        with within(budget):
            return _facts(raw, rel, prefilter, bodies, watch)
    except OverBudget as over:
        _parser = None  # it may have stopped half-way, with a body's ranges set
        return Problem(rel, f"{over.reason} (--file-budget)")


def _facts(
    raw: bytes, rel: str, prefilter: Prefilter | None, bodies: Prefilter | None, watch: Watch | None
) -> FileFacts | Problem | None:
    global _parser
    if _parser is None:
        _parser = new_parser()
    try:
        found = column0_bodies(raw)
        pieces = parts(raw, found)
        # rule words in comments give no facts: they make no function worth parsing
        screened = prefilter is not None or bodies not in (None, NO_BODIES)
        words = blank_comments(raw) if screened else raw
        if prefilter is not None:
            # a need met only by words scattered over several functions is met by none
            # of them, and a function that meets none gives no findings
            wanted = prefilter.wants_each(words, pieces, rel)
            if not any(wanted):
                return None
        if bodies is None:
            keep = None
        elif bodies is prefilter:  # the first round screens files and bodies alike
            keep = wanted[:-1]
        else:
            keep = bodies.wants_each(words, pieces[:-1], rel)
        facts = extract(rel, parse(_parser, raw, found, keep), watch)
    except RecursionError:
        return Problem(rel, "nesting too deep to analyse, skipped")
    except Exception as err:  # one odd file must not cost a whole-tree run its results
        return Problem(rel, f"internal error ({type(err).__name__}: {err}), skipped; please report")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        facts.not_utf8 = True
    return facts


def calls_from_bytes(raw: bytes, rel: str) -> FileCalls | Problem:
    """The file's part of the call graph, for `kscan hotspots` and `graph`.  No
    kernel-style body is parsed: their calls are read from the bytes either way
    (kscan/facts/calls.py), so the graph is the one every body's facts give.  A file with
    no brace defines no function and is not parsed at all: its macros are read from
    the bytes too (generated register headers: 490 MB, 40% of 6.12's sources)."""
    if b"{" in raw or b"\0" in raw[:_BINARY_PROBE]:
        facts = facts_from_bytes(raw, rel, bodies=NO_BODIES)
    else:
        facts = FileFacts(rel, defines=defines(blank_attributes(raw)))  # as parse() reads it
    if isinstance(facts, Problem):
        return facts
    assert facts is not None  # None comes of a prefilter only
    return file_calls(facts)


# facts_for(path, rel, **options): facts_from_bytes on the file's bytes, or why it has none
facts_for = partial(from_file, facts_from_bytes)
_unit: Callable[[str, str], Any] = facts_for  # the pool's work, set once per worker


def _install(unit: Callable[[str, str], Any]) -> None:
    global _unit
    _unit = unit
    # Ctrl-C reaches the whole process group; the parent alone acts on it (it stops
    # the pool), and a worker finishes the batch it is in
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _batch(items: Sequence[tuple[str, str]]) -> list[Any]:
    return [_unit(path, rel) for path, rel in items]


def parse_all(
    files: Sequence[SourceFile],
    jobs: int,
    advance: Callable[[int], None] = lambda n: None,
    *,
    unit: Callable[[str, str], Result],  # a module-level function or partial (pickled)
) -> Iterator[Result]:
    """unit(path, rel) (facts) for every file, in input order; `advance` is told how many
    files are done."""
    items = [(str(f.path), f.rel) for f in files]
    if jobs <= 1 or len(items) < _POOL_MIN:
        for item in items:
            yield unit(*item)
            advance(1)
        return
    # small batches, so that no worker is left with a long tail of files at the end
    size = max(1, min(_BATCH, len(items) // (jobs * 32)))
    batches = [items[k : k + size] for k in range(0, len(items), size)]
    # the unit (a prefilter and its needs) goes to each worker once, not with each batch
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_install, initargs=(unit,))
    try:
        # in input order, each batch as soon as it is done: what an interrupted run's
        # consumer (the cache) got by then, it keeps
        for result in pool.map(_batch, batches):
            advance(len(result))
            yield from result
    finally:
        # Ctrl-C, or a consumer that stops early: the batches not started are dropped
        # (leaving the pool's block would wait for every one of them)
        pool.shutdown(cancel_futures=True)


def total_size(files: Sequence[SourceFile], limit: int) -> int:
    """Their bytes, counted until past `limit` (no stat of a whole tree to say it is big)."""
    total = 0
    for f in files:
        total += _size(str(f.path))
        if total > limit:
            break
    return total


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
