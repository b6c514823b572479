"""What rules produce and reporters consume.

A Finding carries everything a reporter needs (location, message, the source line,
related locations, the model verdict), so reporters never look at rules or facts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from operator import attrgetter

from kscan.patterns import compiled


class Level(IntEnum):
    """Shared scale for severity and confidence (bandit's LOW/MEDIUM/HIGH)."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Level:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown level {text!r} (low, medium, high)") from None


# --fail-on words that name verdicts: the kinds of verdict that fail a run
_FAILING_VERDICTS = {"breaks": ("breaks",), "unknown": ("breaks", "unknown"), "any": None}


@dataclass(frozen=True, slots=True)
class FailOn:
    """Which findings fail a scan or a review (exit 1): those whose verdict is
    `breaks` (the default), `breaks` or `unknown` ("unknown"), every one ("any"), or
    those at or above a severity ("low", "medium", "high").  A finding the model did
    not judge counts as unknown."""

    verdicts: tuple[str, ...] | None = ("breaks",)
    severity: Level | None = None

    @classmethod
    def parse(cls, text: str) -> FailOn:
        word = text.strip().lower()
        if word in _FAILING_VERDICTS:
            return cls(_FAILING_VERDICTS[word])
        try:
            return cls(None, Level.parse(word))
        except ValueError:
            raise ValueError(
                f"unknown threshold {text!r} (breaks, unknown, any; or low, medium, high)"
            ) from None

    def counts(self, finding: Finding) -> bool:
        if self.severity is not None:
            return finding.severity >= self.severity
        if self.verdicts is None:
            return True
        return (finding.verdict.kind if finding.verdict else "unknown") in self.verdicts


@dataclass(frozen=True, slots=True)
class Location:
    path: str  # relative to the tree root when there is one
    line: int  # 1-based
    col: int  # 1-based, in bytes
    function: str | None = None


@dataclass(frozen=True, slots=True)
class Related:
    """A second place that explains a finding: the hoisted check, a call-chain step."""

    location: Location
    message: str


@dataclass(frozen=True, slots=True)
class Walk:
    """The shape of a memmap walk as the rule saw it; the allocator model judges it.

    extent: how far the walk can go —
      "block"        one MAX_ORDER block from a validated head,
      "pageblock"    one pageblock from a validated head,
      "section"      one memory section,
      "zone-span"    a zone's or node's spanned range (holes included),
      "caller-range" a range handed in by the caller,
      "huge-page"    a huge page or hugetlb folio, 1 << huge_page_order pages (may exceed
                     a section),
      "folio"        a folio or compound page of any order (gigantic only if a hugetlb
                     one reaches the walk),
      "unknown".
    unit: "pfn" (pfn_to_page per step) or "page" (struct page pointer arithmetic).
    checked_at: granularity of the validity check that does exist, if any
      ("block", "pageblock", "section"), else None.
    """

    extent: str
    unit: str
    checked_at: str | None = None


@dataclass(frozen=True, slots=True)
class OrderAsk:
    """The order a max-order or contig finding is about: `name` + `offset`, read under
    the MAX_ORDER meaning `semantics` (the model turns it into pages and bytes), and
    what the code does with it: lets it through ("asks"), stores it where no request
    is seen ("holds"), turns it away ("rejects"), never reaches it ("misses"), or aligns
    or sizes a contiguous range to its block ("aligns"; "aligns-needed" in trees before
    5.19, which needed it)."""

    name: str  # MAX_ORDER, MAX_PAGE_ORDER, NR_PAGE_ORDERS or MAX_ORDER_NR_PAGES
    offset: int
    semantics: str
    use: str = "asks"


@dataclass(frozen=True, slots=True)
class Route:
    """One way a walked range is reached: where it comes from, and the steps from the
    walk up to that place (assignments, call sites, an ops-table registration)."""

    origin: str  # see kscan/analysis/provenance/origins.py ORIGINS
    evidence: str  # the expression or call that shows the origin, or why the trace stopped
    chain: tuple[Related, ...]  # the walk first, the origin's own place last


@dataclass(frozen=True, slots=True)
class Provenance:
    """Every route the tracer found for a walked range (callers may disagree)."""

    routes: tuple[Route, ...]
    dropped: int = 0  # routes beyond the tracer's bound, not kept


@dataclass(frozen=True, slots=True)
class Verdict:
    """The allocator model's judgement of a finding under a concrete geometry."""

    kind: str  # "breaks" | "safe-by-contract" | "safe-by-design" | "unknown"
    preset: str  # e.g. "arm64-4k"; "any" when no geometry decides it
    reason: str  # the witness or the reason it is safe
    origin: str = ""  # the origin of the route judged (the worst), when traced
    chain: tuple[Related, ...] = ()  # that route's chain


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    rule_name: str
    family: str
    severity: Level
    confidence: Level
    message: str
    location: Location
    source_line: str = ""
    related: tuple[Related, ...] = ()
    walk: Walk | None = None
    order: OrderAsk | None = None
    verdict: Verdict | None = None
    provenance: Provenance | None = None
    properties: tuple[tuple[str, str], ...] = field(default=())

    @property
    def fingerprint(self) -> str:
        """Stable under line shifts, comments and reformatting: rule, file, function and
        the code of the source line (code_of)."""
        import hashlib  # json, sarif and baselines only: a text report does not load it

        loc = self.location
        key = "\0".join((self.rule_id, loc.path, loc.function or "", code_of(self.source_line)))
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.location.path, self.location.line, self.location.col, self.rule_id)


# One line of C, left to right: a string or char literal (kept: its `/*` opens nothing),
# a comment (to its end or the line's), or a `*/` closing a comment opened above.
# Patterns, not compiled ones: compiled() compiles them on first use (a text scan
# never fingerprints, and compiling both costs a millisecond of start-up).
_LEXEMES = (
    r"""(?P<literal>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\]){1,8}')"""
    r"|(?P<comment>/\*.*?(?:\*/|$)|//.*)"
    r"|(?P<close>\*/)"
)
_SPACE_NOT_BETWEEN_WORDS = r"\s+(?!\w)|(?<!\w)\s+"


LINE_SHOWN = 400  # characters of a source line a finding or a quote shows


def shown(line: str, col: int = 1) -> str:
    """The line, or on a line longer than LINE_SHOWN the part around column `col`, cut
    with `...`: minified or generated code puts a whole file on one line, and each of
    thousands of findings on it carried, or quoted, all of it (a 1.7 MB line, 20,000
    findings: 24 GB).  Kernel lines are under 100 characters."""
    if len(line) <= LINE_SHOWN:
        return line
    start = max(0, min(col - 1 - LINE_SHOWN // 2, len(line) - LINE_SHOWN))
    part = line[start : start + LINE_SHOWN].strip()
    return ("..." if start else "") + part + ("..." if start + LINE_SHOWN < len(line) else "")


def code_of(line: str) -> str:
    """The code of one source line, without comments and without the whitespace that
    does not separate two words: `x=f(a); /* ok */` and `x = f( a );` read the same.

    A line that opens with the tail of a comment begun above (` * ... */ code`) keeps
    what follows the `*/`."""
    kept, start = [], 0
    for match in compiled(_LEXEMES).finditer(line):
        kept.append(line[start : match.start()])
        if match.lastgroup == "literal":
            kept.append(match.group())
        elif match.lastgroup == "close":
            kept.clear()  # all before it was comment
        else:
            kept.append(" ")
        start = match.end()
    kept.append(line[start:])
    return compiled(_SPACE_NOT_BETWEEN_WORDS).sub("", " ".join("".join(kept).split()))


def subtract(
    findings: Iterable[Finding],
    known: Iterable[Finding | str],
    key: Callable[[Finding], Hashable] = attrgetter("fingerprint"),
) -> list[Finding]:
    """Findings minus `known` (findings or fingerprints), as multisets of `key`s."""
    left = Counter(k if isinstance(k, str) else key(k) for k in known)
    out = []
    for finding in findings:
        fingerprint = key(finding)
        if left[fingerprint]:
            left[fingerprint] -= 1
        else:
            out.append(finding)
    return out
