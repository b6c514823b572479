"""Byte-level prefilter: decide from a file's bytes, before parsing, whether it can matter.

Each rule declares what a file must contain for the rule to report in it (`Rule.needs`):
groups of words, every group matched by at least one of its words.  A file that meets no
selected rule's needs is not parsed.  Files that matter only as context are pulled in by
later rounds (`Rule.follow`): a validity helper defined elsewhere, a wrapper of a
contiguous-range API.  The engine repeats rounds until no rule asks for more, so the
findings are those of a run that parses everything (tests compare the two).

Speed: most files match nothing, and a miss costs one `bytes.find` per word, so words
are first screened by a few short stems that the rules' words contain (one find per
stem); only files that contain a stem get the exact test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

# The rules' words each contain one of these; keep the list short (one scan each).
STEMS = (
    b"pfn",
    b"ORDER",
    b"huge",
    b"HPAGE_PUD",
    b"gigantic",
    b"contig",
    b"cma",
    b"isolate_page_range",
    b"offline_pages",
    b"_section",
    b"map_memory",
)


@dataclass(frozen=True, slots=True)
class Needs:
    """A file qualifies when every group has a word in its bytes, or the group's
    `path_words` one in its path (`mm/cma.c` is CMA code by its name)."""

    groups: tuple[tuple[bytes, ...], ...]
    path_words: tuple[tuple[bytes, ...], ...] = ()

    def met(self, src: bytes, path: bytes = b"", first: tuple[bytes, ...] | None = None) -> bool:
        """`first`: test only these words of the first group (the caller knows the rest
        cannot be there)."""
        groups = self.groups if first is None else (first, *self.groups[1:])
        for i, group in enumerate(groups):
            by_path = self.path_words[i] if i < len(self.path_words) else ()
            if not any(word in path for word in by_path) and not any(
                src.find(word) >= 0 for word in group
            ):
                return False
        return True


def needs(*groups: Iterable[bytes | str], path_words: Iterable[bytes | str] = ()) -> Needs:
    """`needs(A, B)`: a word of A and a word of B; `path_words` in the file's path
    stand in for the first group."""
    words = tuple(tuple(_bytes(w) for w in group) for group in groups)
    in_path = tuple(_bytes(w) for w in path_words)
    return Needs(words, (in_path,) if in_path else ())


def _bytes(word: bytes | str) -> bytes:
    return word if isinstance(word, bytes) else word.encode()


class Prefilter:
    """Any of several Needs; None in the list means "every file matters"."""

    def __init__(self, wanted: Iterable[Needs | None]):
        wanted = list(dict.fromkeys(wanted))  # rules of one family ask alike
        self.everything = not wanted or any(n is None for n in wanted)
        self.wanted = tuple(n for n in wanted if n is not None)
        first_groups = {w for n in self.wanted for w in n.groups[0]}
        # words that share no stem (a follow-up round's function names) screen themselves
        unstemmed = sorted(w for w in first_groups if not any(s in w for s in STEMS))
        self.stems = (*(s for s in STEMS if any(s in w for w in first_groups)), *unstemmed)
        # words a path may hold screen themselves too
        self.stems += tuple(
            sorted({w for n in self.wanted for g in n.path_words for w in g} - set(self.stems))
        )
        # stem -> the needs whose first group it can open, with just those words: a word
        # can only be in a file if its stem is (a generated 24 MB header that says ORDER
        # must not be searched for every word of every rule)
        self.by_stem = {
            stem: [(n, tuple(w for w in n.groups[0] if stem in w)) for n in self.wanted]
            for stem in self.stems
        }

    @cached_property
    def tag(self) -> str:
        """16 hex digits naming what this prefilter asks (the cache remembers misses)."""
        text = repr(sorted((n.groups, n.path_words) for n in self.wanted)) + str(self.everything)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    def wants(self, src: bytes, path: str = "") -> bool:
        if self.everything:
            return True
        where = path.encode()
        for stem in self.stems:
            by_path = stem in where
            if not by_path and src.find(stem) < 0:
                continue
            for need, words in self.by_stem[stem]:
                if words and need.met(src, where, first=words):
                    return True
                opens_by_path = by_path and need.path_words and stem in need.path_words[0]
                if opens_by_path and need.met(src, where):
                    return True
        return False
