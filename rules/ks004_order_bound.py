"""An order bound is off by one for the tree's meaning of MAX_ORDER.

What: a comparison, assignment, clamp, mask or order argument that lets an order
value reach an invalid order, or rejects the largest valid one, judged by what
MAX_ORDER means in this tree (or in the file, if it defines its own):
- exclusive (before 6.4; NR_PAGE_ORDERS in any era) — the name is one past the
  largest order: `order <= MAX_ORDER`, `get_order(x) > MAX_ORDER` as the "too big"
  test, `order = MAX_ORDER`, `min(order, MAX_ORDER)`, `(2U << MAX_ORDER) - 1` as an
  order mask, MAX_ORDER passed to a parameter named like an order;
- inclusive (6.4 on; MAX_PAGE_ORDER since 6.8) — the name is the largest valid
  order: `order >= MAX_PAGE_ORDER` rejects it, and `MAX_PAGE_ORDER - 1` used as the
  largest order wastes it (benign, reported with low severity).
`order >= MAX_PAGE_ORDER - 1` and `order < MAX_PAGE_ORDER - 1` are about the next
order up (`order + 1`), as in buddy_merge_likely(), and stay silent; so do the
correct idioms of each era (`order < MAX_ORDER`, `MAX_ORDER - 1` before 6.4;
`order <= MAX_PAGE_ORDER`, `order > MAX_PAGE_ORDER`, `order < NR_PAGE_ORDERS` after).

Why: 23baf831a32c (6.4) flipped MAX_ORDER from exclusive to inclusive.  Code written
for one meaning and compiled under the other asks the buddy allocator for an order it
does not have (a WARN and a failed allocation, or worse an out-of-bounds free_area[]
index), or never uses the largest block.  Upstream fixed nine such sites just before
the flip (sparc tsb_grow, um linux_main, floppy, i915, genwqe, perf's
rb_alloc_aux_page, page_reporting, slub calculate_order, iommu-dma); stable backports
of post-6.4 code to 6.1 reintroduced the bug (efb78fa86e95, 54aee5f15b83).

Example (6.1, exclusive):
    if (order > MAX_ORDER)          /* KS004: order MAX_ORDER passes */
        order = MAX_ORDER;          /* KS004: not a valid order here */

Fix: compare strictly against the count, or inclusively against the largest order:
`order >= MAX_ORDER` / `order = MAX_ORDER - 1` before 6.4, `order > MAX_PAGE_ORDER` /
`order = MAX_PAGE_ORDER` after.  --max-order-semantics checks a patch against
another era's meaning ("would this backport be off by one on 6.1?").
"""

import bisect
import re
from collections.abc import Iterator

from kscan.analysis.maxorder import (
    COUNT,
    MAX_ORDER_NEEDS,
    ORDER_WORD,
    assigned_to,
    clamped,
    operands,
    uses,
)
from kscan.analysis.project import Project
from kscan.analysis.rule import Rule
from kscan.facts.records import BodyFacts, Call, FileFacts, NameUse, mentions
from kscan.findings import Finding, Level, OrderAsk
from kscan.patterns import compiled
from kscan.vocab import ORDER_ALLOCATORS

_MASK_SHIFT = re.compile(r"\(?\s*2U?L{0,2}\s*\)?")
# (severity, offset from the name, what the bound does with that order: findings.OrderAsk)
_ASKS = (Level.HIGH, 0, "asks")
# (what the code does wrong, severity, offset, what it does with the order)
_Problem = tuple[str, Level, int, str]
_NEXT_ORDER_OPS = (">=", "<")  # `order >= N - 1` is `order + 1 >= N`


class OrderBound(Rule):
    id = "KS004"
    name = "order-bound-off-by-one"
    family = "max-order"
    severity = Level.HIGH
    confidence = Level.MEDIUM
    needs = MAX_ORDER_NEEDS

    def check(self, project: Project) -> Iterator[Finding]:
        for facts, use, meaning, role in uses(project):
            what = self._count_use(project, facts, use) if role == COUNT else self._largest_use(use)
            if what is None:
                continue
            problem, severity, offset, does = what
            yield self.finding(
                facts,
                use.line,
                use.col,
                use.function,
                f"{problem}: {meaning.describe(use.name)}",
                severity=severity,
                order=OrderAsk(use.name, offset, meaning.semantics, does),
                properties=(("semantics", meaning.semantics),),
            )

    def _count_use(self, project: Project, facts: FileFacts, use: NameUse) -> _Problem | None:
        name = use.name
        ops = operands(use)
        if ops is not None:
            if ops.normalised_op == "<=" and ops.about_an_order:
                return f"`{use.parent}` accepts order {name}, which does not exist", *_ASKS
            if ops.normalised_op == ">" and ops.about_an_order:
                return f"`{use.parent}` as the too-big test lets order {name} through", *_ASKS
            if ops.op == "<<" and not ops.name_left and _MASK_SHIFT.fullmatch(ops.other):
                return f"`{use.parent}` builds a mask with bit {name} set", *_ASKS
            return None
        target = assigned_to(use)
        if target is not None and ORDER_WORD.search(target):
            sets = f"sets `{target}` to {name}, which is not a valid order"
            return sets, Level.HIGH, 0, _stored(project, facts, use, target)
        if clamped(use):
            clamps = f"clamps an order to {name}, which is not a valid order"
            stored = _CLAMPED_INTO.match(use.context)
            asks = _stored(project, facts, use, stored[1]) if stored else "asks"
            return clamps, Level.HIGH, 0, asks
        param = _order_parameter(project, facts, use)
        if param:
            return f"passes {name} as `{param}`, which is not a valid order", *_ASKS
        return None

    def _largest_use(self, use: NameUse) -> _Problem | None:
        name = use.name
        ops = operands(use)
        if ops is None:
            return None
        if ops.normalised_op == ">=" and ops.about_an_order:
            rejects = f"`{use.parent}` rejects order {name}, the largest valid order"
            return rejects, Level.HIGH, 0, "rejects"
        if ops.name_left and ops.op == "-" and ops.other == "1":
            if _compared_as_next_order(use):
                return None
            wastes = f"`{use.parent}` used as the largest order wastes order {name} (benign)"
            return wastes, Level.LOW, -1, "asks"
        return None


def _compared_as_next_order(use: NameUse) -> bool:
    ops = "|".join(re.escape(op) for op in _NEXT_ORDER_OPS)
    minus_one = re.escape(use.parent).replace(r"\ ", r"\s*")
    return bool(compiled(rf"(?:{ops})\s*\(?\s*{minus_one}").search(use.context))


_CLAMPED_INTO = re.compile(r"\s*([A-Za-z_][\w.>-]*)\s*=[^=]")


def _stored(project: Project, facts: FileFacts, use: NameUse, target: str) -> str:
    """An order stored in a variable is asked of the page allocator ("asks") when the
    function hands it, or a value built from it, to one; else it only "holds" it: a
    count (`i < pool->max_order`) or an "unset" marker is right under this meaning."""
    function = next(
        (fn for fn in facts.functions if fn.name == use.function and fn.span.contains(use.byte)),
        None,
    )
    if function is None:
        return "holds"
    body = project.tracer.frame(facts, function).body
    return "asks" if _reaches_allocator(body, target, use.byte, hops=2) else "holds"


def _reaches_allocator(body: BodyFacts, var: str, after: int, hops: int) -> bool:
    for call in body.calls:
        if (
            call.byte > after
            and ORDER_ALLOCATORS.match(call.name)
            and mentions(call.args_text, var)
        ):
            return True
    return hops > 0 and any(
        _reaches_allocator(body, a.lhs, a.byte, hops - 1)
        for a in body.assignments
        if a.byte > after and a.lhs != var and a.op == "=" and mentions(a.rhs, var)
    )


def _order_parameter(project: Project, facts: FileFacts, use: NameUse) -> str | None:
    """The callee's parameter name when the use is a whole argument of a known function."""
    if use.parent_kind != "argument_list" or clamped(use):
        return None
    for where, fn in project.functions_by_name.get(use.function or "", ()):
        if where is not facts:
            continue
        # the calls on the use's line (calls are in file order, so lines only grow)
        i = bisect.bisect_left(fn.calls, use.line, key=lambda c: c.line)
        for call in _on_line(fn.calls, i, use.line):
            if use.name not in call.args:
                continue
            index = call.args.index(use.name)
            for _, callee in project.functions_by_name.get(call.name, ()):
                if index < len(callee.params) and "order" in callee.params[index][0]:
                    return callee.params[index][0]
    return None


def _on_line(calls: tuple[Call, ...], i: int, line: int) -> Iterator[Call]:
    while i < len(calls) and calls[i].line == line:
        yield calls[i]
        i += 1


RULE = OrderBound()
