"""MAX_ORDER as a size limit: caps and thresholds that change meaning with N.

What: every other use of a MAX_ORDER-family name in code that builds a size, a count
or a cap from it, with its value today and at order N:
- caps and clamps: `order = min(get_order(size), MAX_PAGE_ORDER)` (kernel/dma/pool.c),
  `if (count > PAGE_SIZE << MAX_PAGE_ORDER) count = ...` (regmap debugfs),
  `#define KMALLOC_SHIFT_MAX (MAX_PAGE_ORDER + PAGE_SHIFT)` (kmalloc's largest size),
  `#define VIRTIO_BALLOON_HINT_BLOCK_ORDER MAX_PAGE_ORDER` (free page hinting);
- thresholds: `huge_page_order(h) > MAX_PAGE_ORDER` (a hugetlb size is gigantic, so
  it comes from CMA / alloc_contig_range() rather than the buddy allocator),
  `get_order(size) > MAX_PAGE_ORDER` (fall back to vmalloc);
- counts: `PAGE_SIZE << MAX_PAGE_ORDER` accepted at once, `x % MAX_ORDER_NR_PAGES`.
Not listed, because they stay right at any N: assertions (`WARN_ON(order >
MAX_PAGE_ORDER)`), checks of an order read from a free page (`buddy_order_unsafe()`
is racy, `order <= MAX_PAGE_ORDER` validates it), the definitions of the family in
mmzone.h, and the uses the other classes claim.

Why: callers of these limits were written against 4 MiB (x86_64) blocks.  At N they
will ask the buddy allocator for, or accept, blocks up to 2^N pages: kmalloc() of
hundreds of MiB stops failing early, DMA pools and IOMMU mappings try 1 GiB chunks,
1 GiB hugetlb pages stop being gigantic (no CMA reservation needed, but also no
nth_page()-safe gigantic paths), and a balloon hints 1 GiB blocks to the host.  Each
is a decision to make, not necessarily a bug.

Example (6.12 include/linux/slab.h):
    #define KMALLOC_SHIFT_MAX	(MAX_PAGE_ORDER + PAGE_SHIFT)    /* 4 MiB -> 1 GiB */

Fix: keep the limit where the old size was the point (`min(order, PAGE_ALLOC_COSTLY_ORDER)`,
an explicit `SZ_4M`), or take the new one knowingly; test the thresholds
(hstate_is_gigantic()) with a size of exactly 2^N pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kscan.analysis.project import Project
from kscan.discover.prefilter import needs
from kscan.facts.records import FileFacts, Function, NameUse
from kscan.findings import Finding, Level, Location, Related
from kscan.model.geometry import fmt_size
from kscan.patterns import compiled
from kscan.vocab import ORDER_NAMES, identifiers
from kscan.whatif.analysis import MEANING, Analysis, Context
from kscan.whatif.orders import BLOCK_NAMES, FREE_BLOCK_ORDER
from kscan.whatif.target import evaluate

_ASSERTION = re.compile(r"^[\s(!]*(?:\w*WARN\w*|\w*BUG\w*|VM_\w+)\s*\(")
# The MAX_ORDER family's own definitions: N itself, not a use of it.
_DEFINITIONS = frozenset(
    {"MAX_ORDER", "MAX_PAGE_ORDER", "NR_PAGE_ORDERS", "MAX_ORDER_NR_PAGES", "IS_MAX_ORDER_ALIGNED"}
)
_SIZE_WORDS = re.compile(r"\bPAGE_(?:SIZE|SHIFT)\b")
_ASSIGNED_VALUE = re.compile(r"\s*(?:return\s+|[\w\s\*]*\w\s*=(?!=)\s*)(.+?);?\s*")


class MaxOrderSizeLimits(Analysis):
    id = "WI6"
    name = "max-order-size-limits"
    severity = Level.LOW
    confidence = Level.MEDIUM
    section_class = False
    needs = (needs(ORDER_NAMES),)
    fix = (
        "keep the old limit explicitly where its size was the point, or adopt the new one "
        "knowingly; check thresholds at exactly 2^N pages"
    )

    def __init__(self, context: Context | None):
        super().__init__(context)
        self._apart: dict[tuple[str, int], frozenset[str]] = {}  # see _kept_apart

    def sites(self, project: Project) -> Iterator[Finding]:
        if self.target.today.max_page_order == self.target.order:
            return
        yield from self._defines(project)
        by_function: dict[tuple[str, str], list[tuple[FileFacts, NameUse]]] = {}
        for facts, use, _meaning in self.uses(project):
            if use.function is None or not self._limits(facts, use):
                continue
            if self.context.claim(facts.path, use.byte):
                by_function.setdefault((facts.path, use.function), []).append((facts, use))
        for uses in by_function.values():
            facts, first = uses[0]
            related = tuple(
                Related(Location(facts.path, u.line, u.col, u.function), f"`{u.context}`")
                for _, u in uses[1:]
            )
            yield self.site(
                facts,
                first.line,
                first.col,
                first.function,
                f"`{first.context}` {self._value(_sized(first), first.name)}",
                MEANING,
                related=related,
            )

    def _defines(self, project: Project) -> Iterator[Finding]:
        for facts, define in self.defines(project):
            names = identifiers(define.value)
            if define.name in _DEFINITIONS or not names & (set(ORDER_NAMES) | BLOCK_NAMES):
                continue
            if define.name == "pageblock_order" or not self.claim_define(facts, define):
                continue  # pageblock_order: min(HUGETLB_PAGE_ORDER, ...) or the pageblock class's
            yield self.site(
                facts,
                define.line,
                1,
                None,
                f"`#define {define.name} {define.value}` {self._value(define.value, None)}",
                MEANING,
            )

    def _limits(self, facts: FileFacts, use: NameUse) -> bool:
        """A use that builds a size, a cap or a threshold (see the module doc)."""
        if use.parent_kind.startswith("preproc") or _ASSERTION.match(use.context):
            return False
        other = _compared_with(use)
        if other is None:
            return True
        fn = facts.function_at(use.byte)
        names = identifiers(other)
        return not (
            FREE_BLOCK_ORDER.search(other)
            or "++" in other
            or "--" in other
            or "pageblock_order" in names
            or (fn is not None and names & self._kept_apart(facts, fn))
        )

    def _kept_apart(self, facts: FileFacts, fn: Function) -> frozenset[str]:
        """The function's variables a comparison with the largest order does not make a
        limit of: those its loops step (an order loop's bound is its end), and those it
        sets to an order read from a free page (checking one is validity).  Once per
        function: a long one asks for each of its uses."""
        key = (facts.path, fn.span.start_byte)
        found = self._apart.get(key)
        if found is None:
            stepped = {step.var for loop in facts.loops_in(fn.span) for step in loop.steps}
            free = {var for var, value in fn.values if FREE_BLOCK_ORDER.search(value)}
            found = self._apart[key] = frozenset(stepped | free)
        return found

    def _value(self, expr: str, name: str | None) -> str:
        """`is 4 MiB today, 1 GiB at N = 18` for the expression a use sits in: a size in
        bytes when it involves the page size, a page count for MAX_ORDER_NR_PAGES."""
        n = self.target.order
        if name in BLOCK_NAMES and not _SIZE_WORDS.search(expr):
            return f"is {self._pages(name, self.target.today.max_page_order)} today, " + (
                f"{self._pages(name, n)} at N = {n}"
            )
        today, then = (
            evaluate(expr, self.target.values(order))
            for order in (self.target.today.max_page_order, n)
        )
        if today is None or then is None or today == then:
            return f"follows the largest order: {self._orders()}"
        if _SIZE_WORDS.search(expr):
            shift = 0 <= then < 64  # a shift of 1, else a size in bytes

            def as_size(value: int) -> str:
                return fmt_size(1 << value) if shift else fmt_size(abs(value))

            return f"is {as_size(today)} today, {as_size(then)} at N = {n}"
        return f"is {today} today, {then} at N = {n}"

    def _pages(self, name: str, order: int) -> str:
        pages = self.target.values(order)[name]
        return f"{pages} pages ({self.target.today.bytes(pages)})"

    def _orders(self) -> str:
        today = self.target.today.max_page_order
        return f"{self.target.block(today)} today, {self.target.block()} at N"


def _sized(use: NameUse) -> str:
    """The expression to evaluate for a use: the value a statement assigns or returns
    (`block_size = 1 << (PAGE_SHIFT + MAX_ORDER <= 32 ? ... : 31)`), its parent, or the
    size in bytes around it (`PAGE_SIZE << (MAX_ORDER - 1)` around `MAX_ORDER - 1`)."""
    value = _ASSIGNED_VALUE.fullmatch(use.context)
    if value and _SIZE_WORDS.search(value[1]):
        return value[1]
    if _SIZE_WORDS.search(use.parent):
        return use.parent
    inner = re.escape(use.parent)
    match = compiled(rf"PAGE_SIZE\s*<<\s*(?:\(\s*{inner}\s*\)|{inner})").search(use.context)
    return match[0] if match else use.parent


def _compared_with(use: NameUse) -> str | None:
    """The other side of a comparison with the name, if the use is one."""
    if use.parent_kind != "binary_expression":
        return None
    match = compiled(rf"(.+?)\s*(?:<=|>=|==|!=|<|>)\s*{use.name}").fullmatch(
        use.parent
    ) or compiled(rf"{use.name}\s*(?:<=|>=|==|!=|<|>)\s*(.+)").fullmatch(use.parent)
    return match[1] if match else None
