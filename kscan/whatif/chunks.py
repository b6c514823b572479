"""Work done in MAX_ORDER chunks that assumes one section per chunk.

What: code that treats a block of the largest order as one unit of memory state:
- it validates one PFN per block and trusts the rest: `(pfn & (MAX_ORDER_NR_PAGES - 1))
  == 0 && !pfn_valid(pfn)` (read_page_owner()), or, when one PFN is invalid, skips to
  the next block boundary (`pfn = ALIGN(pfn + 1, MAX_ORDER_NR_PAGES)`,
  init_pages_in_zone(), pagetypeinfo_showmixedcount_print());
- it hands a whole block of up to the largest order to the buddy allocator at once:
  memblock freeing at boot (`order = min(MAX_PAGE_ORDER, __ffs(start))` ->
  memblock_free_pages()), deferred struct page init (`__free_pages_core(page,
  MAX_PAGE_ORDER, ...)`), memory hotplug onlining (online_pages_range() ->
  online_page_callback()).
Orders are followed as in kscan/whatif/orders.py: a call counts when the order it
passes can be the largest.

Why: pfn_valid(), pfn_to_online_page() and the memmap's initialisation are all
per-section facts (deferred init starts at a section boundary, hotplug onlines and
offlines whole sections, a hole can be a whole absent section).  While a block fits
in a section, one PFN of it stands for all of it.  With blocks of 2^(N - section order)
sections, a check made once per block lets a walk reach an absent or offline section
(a missing or poisoned struct page), a skip jumps over valid sections unseen, and a
block handed over whole can hold sections whose struct pages are not initialised yet:
memblock_free_pages() decides deferred init by the block's first PFN, while
first_deferred_pfn is only section-aligned (defer_init()).

Example (6.12 mm/page_owner.c, read_page_owner()):
    if ((pfn & (MAX_ORDER_NR_PAGES - 1)) == 0 && !pfn_valid(pfn)) {
        pfn += MAX_ORDER_NR_PAGES - 1;
        continue;
    }
    page = pfn_to_page(pfn);            /* unchecked in the next 7 sections */

Fix: check once per section (PAGES_PER_SECTION, or pfn_valid() when
IS_ALIGNED(pfn, PAGES_PER_SECTION)), skip by section; hand blocks over in chunks of at
most a section's order, or settle the state of every section of a block first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kscan.analysis.nesting import Nest
from kscan.analysis.project import Project
from kscan.discover.prefilter import needs
from kscan.facts.records import FileFacts, Function, NameUse
from kscan.findings import Finding, Level, Location, Related
from kscan.vocab import VALIDITY_CHECKS, identifiers
from kscan.whatif.analysis import ALWAYS, Analysis
from kscan.whatif.orders import BLOCK_NAMES, LARGEST_NAMES, Reach, callees

Spot = tuple[int, int, str]  # (line, col, why)

# Per-section state a function may decide from one PFN.
_SECTION_STATE = VALIDITY_CHECKS | {"early_page_initialised", "early_page_uninitialised"}
# Callees that take a whole block (page, order) and put it into the buddy allocator.
HANDOFFS = {
    "__free_pages_core": 1,
    "memblock_free_pages": 2,
    "online_page_callback": 1,
    "generic_online_page": 1,
}
_PFN_WORD = re.compile(r"\w*pfn\w*")


class MaxOrderChunks(Analysis):
    id = "WI3"
    name = "max-order-chunks"
    severity = Level.HIGH
    confidence = Level.MEDIUM
    needs = (needs(["MAX_ORDER_NR_PAGES", "MAX_PAGE_ORDER", "MAX_ORDER"], ["pfn"]),)
    fix = (
        "check and skip per section (PAGES_PER_SECTION), and hand blocks over in chunks no "
        "larger than a section, or settle every section of a block first"
    )

    def sites(self, project: Project) -> Iterator[Finding]:
        reach = self.context.reach(project)
        for facts in self.files(project):
            for fn in facts.functions:
                head = _head_test(project, facts, fn, reach.order_vars(facts, fn))
                uses = [u for u in facts.uses_in(fn.span) if u.name in BLOCK_NAMES | LARGEST_NAMES]
                found = self._per_block(project.nest(facts), fn, uses, head)
                if head is not None:
                    found += self._handoffs(facts, fn, reach, head)
                if found:
                    self.claim_function(facts, fn)
                    yield self._site(facts, fn, sorted(found))

    def _site(self, facts: FileFacts, fn: Function, found: list[Spot]) -> Finding:
        (line, col, reason), *more = found
        related = tuple(Related(Location(facts.path, ln, cl, fn.name), why) for ln, cl, why in more)
        return self.site(facts, line, col, fn.name, reason, ALWAYS, related=related)

    def _per_block(
        self, nest: Nest, fn: Function, uses: list[NameUse], head: str | None
    ) -> list[Spot]:
        """MAX_ORDER-sized checks and skips in a function that tests per-section state,
        and orders chunked by PFN alignment (`min(MAX_PAGE_ORDER, __ffs(pfn))`) for a
        block whose first PFN decides (`head`)."""
        out: list[Spot] = []
        sections = self._sections()
        n = self.target.order
        tests = {c.name for c in fn.calls} & _SECTION_STATE
        for use in uses:
            facts = nest.facts
            if (facts.path, use.byte) in self.context.claimed:
                continue
            checked = identifiers(use.context) & _SECTION_STATE
            if checked and _PFN_WORD.search(use.context):
                why = (
                    f"`{use.context}` checks {', '.join(sorted(checked))}() once per block: at "
                    f"N = {n} a block spans {sections} sections, and the PFNs between checks "
                    "can be in an absent or offline one"
                )
            elif tests and (failed := _failed_check(nest, use)) is not None:
                why = (
                    f"`{use.context}` skips the rest of a block when `{failed}` fails: at "
                    f"N = {n} that skips up to {sections - 1} more sections, which may be "
                    "valid, unseen"
                )
            elif head is not None and _ALIGNED_ORDER.search(use.context):
                why = (
                    f"`{use.context}` cuts a PFN range into blocks of up to {self.target.block()}"
                    f" by alignment: one block spans up to {sections} sections, and {head} "
                    "decides for all of them from the block's first PFN"
                )
            else:
                continue
            out.append((use.line, use.col, why))
        return out

    def _handoffs(self, facts: FileFacts, fn: Function, reach: Reach, head: str) -> list[Spot]:
        """Calls that hand a block of up to the largest order to the buddy allocator,
        in a function where one PFN decides for the block (`head`)."""
        orders = reach.order_vars(facts, fn)
        out: list[Spot] = []
        for call in fn.calls:
            position = HANDOFFS.get(call.name)
            if position is None or len(call.args) <= position:
                continue
            arg = call.args[position]
            names = identifiers(arg)
            if not names & (LARGEST_NAMES | set(orders)):
                continue
            why = (
                f"`{call.name}{call.args_text}` hands the buddy allocator a block of up to "
                f"{self.target.block()} at once, spanning {self._sections()} sections, and "
                f"{head} decides for all of them from the block's first PFN (deferred init "
                "starts at a section boundary, hotplug onlines whole sections)"
            )
            carried = names & set(orders)
            if carried:
                var = min(carried)
                why += f"; {var} {orders[var]}"
            out.append((call.line, call.col, why))
        return out

    def _sections(self) -> int:
        return 1 << max(0, self.target.order - self.target.section_order)


def _head_test(
    project: Project, facts: FileFacts, fn: Function, orders: dict[str, str]
) -> str | None:
    """`early_page_initialised()` (or another per-section test) made in the function,
    or in a callee it passes the order to (memblock_free_pages() for
    __free_pages_memory()): where one PFN decides for a whole block."""
    own = sorted({c.name for c in fn.calls} & _SECTION_STATE)
    if own:
        return f"{own[0]}()"
    carried = set(orders) | LARGEST_NAMES
    for call in fn.calls:
        if not any(identifiers(arg) & carried for arg in call.args):
            continue
        for _, callee in callees(project, facts, call.name):
            found = sorted({c.name for c in callee.calls} & _SECTION_STATE)
            if found:
                return f"{found[0]}() in {callee.name}()"
    return None


def _failed_check(nest: Nest, use: NameUse) -> str | None:
    """The condition of the guarded `continue` a skip (`pfn = ALIGN(pfn + 1,
    MAX_ORDER_NR_PAGES)`, `pfn += MAX_ORDER_NR_PAGES - 1`) belongs to, when it tests
    per-section state, itself or through a variable it assigned (`page =
    pfn_to_online_page(pfn); if (!page)`): the branch opened just before the skip."""
    if not _SKIP.match(use.context):
        return None
    for loop in nest.facts.loops_holding(use.byte, "body"):
        if not loop.detailed:
            continue
        assigns = nest.assigns_in(loop.body.start_byte, loop.body.end_byte)
        checked = {a.lhs for a in assigns if a.call in _SECTION_STATE}
        exits = [
            e for e in nest.exits_of(loop) if e.byte < use.byte and 0 <= use.line - e.line <= 2
        ]
        nearest = max(exits, key=lambda e: e.byte, default=None)
        if nearest is not None and (
            set(nearest.cond_calls) & _SECTION_STATE or nearest.cond_idents & checked
        ):
            return nearest.cond
    return None


_SKIP = re.compile(r"\s*\w*pfn\w*\s*(?:\+=|=\s*ALIGN\s*\()")
# An order cut to a PFN's alignment: `min_t(int, MAX_PAGE_ORDER, __ffs(start))`.
_ALIGNED_ORDER = re.compile(r"\b__ffs\s*\(|\b__builtin_ctzl?\s*\(")
