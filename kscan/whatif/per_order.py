"""Per-order tables and the loops over them: their cost at order N.

What: arrays with one entry per buddy order, sized `[NR_PAGE_ORDERS]` (`[MAX_ORDER]`
before 6.4, `[MAX_PAGE_ORDER + 1]`), and `for` loops that enumerate every order
(`for (o = 0; o < NR_PAGE_ORDERS; o++)`, `for_each_migratetype_order()`, a descent
from MAX_PAGE_ORDER).  Each site says how many entries or iterations it has at order N
against today, and in bytes when the element is a scalar or a list head; where the
array lives (a structure field, a static table, a stack frame) says how often that
cost is paid.  Buddy merge loops (`while (order < MAX_PAGE_ORDER)`) are not
enumerations and belong to the buddy class.

Why: nothing here breaks, but everything grows with N: `zone->free_area[]` gains one
`struct free_area` (a list per migrate type) per order in every zone, TTM keeps a pool
per order and caching type, and the allocator's fast path (__rmqueue_smallest(),
__zone_watermark_ok()) walks the orders above the request on every allocation that
misses.  An N chosen for 1 GiB blocks should be paid for knowingly.

Example (6.12):
    struct free_area	free_area[NR_PAGE_ORDERS];    /* 11 -> 19 entries per zone */
    for (order = 0; order < NR_PAGE_ORDERS; order++)  /* 11 -> 19 iterations */

Fix: usually none; size a table that only needs the orders up to a pageblock or a PMD
by that order instead, and keep hot-path order scans bounded (a bitmap of non-empty
orders instead of a scan).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kscan.analysis.maxorder import operands
from kscan.analysis.project import Project
from kscan.discover.prefilter import needs
from kscan.facts.records import FileFacts, NameUse
from kscan.findings import Finding, Level
from kscan.patterns import compiled
from kscan.vocab import ORDER_NAMES
from kscan.whatif.analysis import COST, Analysis
from kscan.whatif.target import evaluate

_ASSIGNED = re.compile(r"(?:[\w\s]+\s)?\w+\s*=")
_QUALIFIERS = re.compile(r"\b(?:static|const|volatile|__initdata|__read_mostly)\b")
_ARRAY = re.compile(r"(\w+)\s*\[\s*([^][]*\b(?:NR_PAGE_ORDERS|MAX_PAGE_ORDER|MAX_ORDER)\b[^][]*)\]")
# Element sizes on a 64-bit kernel, for the types whose size a declaration says.
_SIZES = {
    "char": 1,
    "u8": 1,
    "s8": 1,
    "short": 2,
    "u16": 2,
    "int": 4,
    "u32": 4,
    "s32": 4,
    "long": 8,
    "u64": 8,
    "s64": 8,
    "atomic_long_t": 8,
    "atomic_t": 4,
    "struct list_head": 16,
}
_ORDER_LOOP_MACROS = ("for_each_migratetype_order",)


class PerOrderTables(Analysis):
    id = "WI5"
    name = "per-order-tables"
    severity = Level.LOW
    confidence = Level.HIGH
    section_class = False
    needs = (needs(ORDER_NAMES),)
    fix = (
        "usually none; bound tables and hot-path scans that only need small orders by "
        "that order, not by the largest one"
    )

    def sites(self, project: Project) -> Iterator[Finding]:
        today, n = self.target.today.max_page_order, self.target.order
        if today == n:
            return
        for facts, use, _meaning in self.uses(project):
            if use.parent_kind.startswith("preproc"):
                continue
            site = self._array(facts, use) or self._loop(facts, use)
            if site is not None and self.context.claim(facts.path, use.byte):
                yield site
        yield from self._macro_loops(project)

    def _array(self, facts: FileFacts, use: NameUse) -> Finding | None:
        match = _ARRAY.search(use.context)
        if match is None or use.name not in match[2]:
            return None
        today = evaluate(match[2], self.target.values(self.target.today.max_page_order))
        then = evaluate(match[2], self.target.values())
        if today is None or then is None:
            return None
        element = _element_type(use.context, match[1])
        cost = f"{today} -> {then} entries of {element or 'its element type'}"
        size = _SIZES.get(" ".join((element or "").replace("unsigned", "").split()))
        if size is not None:
            cost += f" ({today * size} -> {then * size} bytes)"
        where = _where(facts, use)
        return self.site(
            facts, use.line, use.col, use.function, f"`{match[0]}` {where}: {cost}", COST
        )

    def _loop(self, facts: FileFacts, use: NameUse) -> Finding | None:
        """A `for` whose header enumerates the orders up to (or down from) the largest:
        the name bounds the condition, or is the whole initial value."""
        ops = operands(use)
        heads = facts.loops_holding(use.byte, "head")
        for loop in (lp for lp in heads if lp.kind == "for"):
            bound = ops is not None and ops.op in ("<", "<=", ">", ">=") and use.name in loop.cond
            descent = compiled(rf"(?:[\w\s]+\s)?\w+\s*=\s*{use.name}").fullmatch(loop.init.strip())
            if not (bound and _ASSIGNED.match(loop.init)) and not descent:
                return None
            today = self.target.today.max_page_order + 1
            return self.site(
                facts,
                use.line,
                use.col,
                use.function,
                f"loop `for ({loop.init}; {loop.cond}; ...)` runs over the orders up to the "
                f"largest: up to {today} -> {self.target.order + 1} iterations",
                COST,
            )
        return None

    def _macro_loops(self, project: Project) -> Iterator[Finding]:
        today, then = self.target.today.max_page_order + 1, self.target.order + 1
        for facts in self.files(project):
            for loop in facts.loops:
                if loop.kind == "macro" and loop.macro in _ORDER_LOOP_MACROS:
                    fn = facts.function_at(loop.span.start_byte)
                    yield self.site(
                        facts,
                        loop.span.start_line,
                        loop.span.start_col,
                        fn.name if fn else None,
                        f"`{loop.macro}({loop.cond.strip('()')})` visits every order and "
                        f"migrate type: {today} -> {then} orders",
                        COST,
                    )


def _element_type(context: str, name: str) -> str | None:
    """`struct free_area free_area[...]` -> "struct free_area"; `unsigned long nr[...]`."""
    head = context.split(name + "[", 1)[0] if name + "[" in context else ""
    head = _QUALIFIERS.sub(" ", head)
    head = head.split(",")[0]
    words = head.replace("*", " * ").split()
    return " ".join(words) or None


def _where(facts: FileFacts, use: NameUse) -> str:
    if use.function is None:
        if (
            "(" not in use.context
            and use.context.rstrip().endswith(";")
            and not use.context.lstrip().startswith("static")
        ):
            return "is a structure field: every instance grows"
        return "is a static table"
    return f"is on the stack of {use.function}()"
