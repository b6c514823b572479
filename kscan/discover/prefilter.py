"""Byte-level prefilter: decide from a file's bytes, before parsing, whether it can matter.

Each rule declares what a file must contain for the rule to report in it (`Rule.needs`):
groups of words, every group matched by at least one of its words.  A file that meets no
rule's needs is not parsed; nor is one where no part does (a function with the text
before it, or the text after the last one, comments blanked), and the same test on
each function decides which bodies of the others are (kscan/facts/workers.py, bodies.py).
Files that matter only as context are pulled in by later rounds (`Rule.follow`): a
validity helper defined elsewhere, a wrapper of a contiguous-range API.  The engine
repeats rounds until no rule asks for more, so the findings are those of a run that
parses everything (tests compare the two).

Speed: most files match nothing, and a miss costs one `bytes.find` per word, so each
need is first screened by a few stems (one find each): the stems of one of its groups,
whichever costs least given what other needs screen for (a find for a short needle is
slower).  A walk needs `pfn_to_page` and a validity check needs `pfn`, so one scan for
"pfn" screens both; KS003 screens by "struct page"/"struct folio", not by five
hugetlb words.  Only files that contain a stem get the exact test.
"""

from __future__ import annotations

from bisect import bisect_right
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

    def met(self, src: bytes, path: bytes = b"", start: int = 0, end: int | None = None) -> bool:
        """In src[start:end] (no copy of a function body to test it)."""
        for i, group in enumerate(self.groups):
            by_path = self.path_words[i] if i < len(self.path_words) else ()
            if not any(word in path for word in by_path) and not any(
                src.find(word, start, end) >= 0 for word in group
            ):
                return False
        return True


def needs(*groups: Iterable[bytes | str], path_words: Iterable[bytes | str] = ()) -> Needs:
    """`needs(A, B)`: a word of A and a word of B; `path_words` in the file's path
    stand in for the first group."""
    words = tuple(_fewest(dict.fromkeys(map(_bytes, group))) for group in groups)
    in_path = tuple(_bytes(w) for w in path_words)
    return Needs(words, (in_path,) if in_path else ())


def _bytes(word: bytes | str) -> bytes:
    return word if isinstance(word, bytes) else word.encode()


def _fewest(group: Iterable[bytes]) -> tuple[bytes, ...]:
    """The group less the words that hold another of its words: wherever
    `pfn_valid_within` is, `pfn_valid` is too, and one search answers for both."""
    group = tuple(group)
    return tuple(w for w in group if not any(other in w for other in group if other != w))


class Prefilter:
    """Any of several Needs; None in the list means "every file matters", an empty list
    that none does (kscan/facts/workers.py NO_BODIES).  `stems`:
    what screens them (the rules' words share STEMS; the few long names a follow-up
    round asks for are cheaper to search for themselves)."""

    def __init__(self, wanted: Iterable[Needs | None], stems: tuple[bytes, ...] = STEMS):
        wanted = list(dict.fromkeys(wanted))  # rules of one family ask alike
        self.everything = any(n is None for n in wanted)
        self.wanted = tuple(n for n in wanted if n is not None)
        # stem -> the needs it screens; a need can only be met in a file holding a stem
        self.screens: dict[bytes, list[Needs]] = {}
        for need in sorted(self.wanted, key=lambda n: len(n.groups)):  # no choice first
            for stem in min(_screenings(need, stems), key=self._added_cost):
                self.screens.setdefault(stem, []).append(need)

    def _added_cost(self, stems: frozenset[bytes]) -> float:
        return sum(1 / len(stem) for stem in stems if stem not in self.screens)

    @cached_property
    def tag(self) -> str:
        """16 hex digits naming what this prefilter asks (the cache remembers misses)."""
        import hashlib  # with a cache only, which imports it anyway

        text = repr(sorted((n.groups, n.path_words) for n in self.wanted)) + str(self.everything)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    def wants(self, src: bytes, path: str = "") -> bool:
        if self.everything:
            return True
        where = path.encode()
        return any(
            (stem in where or src.find(stem) >= 0) and any(n.met(src, where) for n in screened)
            for stem, screened in self.screens.items()
        )

    def wants_each(self, src: bytes, ranges: list[tuple[int, int]], path: str = "") -> list[bool]:
        """wants(src[a:b], path) for each of the sorted, disjoint (a, b).  Each stem is
        found once in src, and a range is tested only for the needs its stems screen
        (in mm/, six function bodies in ten hold none)."""
        where = path.encode()
        if self.everything or any(stem in where for stem in self.screens):
            return [self.wants(src[a:b], path) for a, b in ranges]
        ends = [b for _, b in ranges]
        screened: dict[int, list[Needs]] = {}  # range -> the needs of the stems in it
        for stem, stem_needs in self.screens.items():
            hit = src.find(stem)
            while hit >= 0 and (i := bisect_right(ends, hit)) < len(ranges):
                start = ranges[i][0]
                if start <= hit:
                    screened.setdefault(i, []).extend(stem_needs)
                hit = src.find(stem, ends[i] if start <= hit else start)  # the next range
        return [
            any(need.met(src, where, a, b) for need in screened.get(i, ()))
            for i, (a, b) in enumerate(ranges)
        ]


def _screenings(need: Needs, stems: tuple[bytes, ...]) -> list[frozenset[bytes]]:
    """Per group, stems one of which any file meeting the need holds: for each word
    the longest of `stems` in it, or the word itself; path words screen themselves."""
    options = []
    for i, group in enumerate(need.groups):
        screens = {max((s for s in stems if s in word), key=len, default=word) for word in group}
        screens.update(need.path_words[i] if i < len(need.path_words) else ())
        options.append(frozenset(screens))
    return options
