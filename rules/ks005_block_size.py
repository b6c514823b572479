"""A block size built from MAX_ORDER is twice the largest block the buddy allocator has.

What: `PAGE_SIZE << MAX_ORDER`, `1UL << MAX_ORDER`, `1 << (PAGE_SHIFT + MAX_ORDER)`,
`X << MAX_ORDER << PAGE_SHIFT` (in code or in a `#define` body) where MAX_ORDER is
one past the largest order: the exclusive meaning before 6.4, or NR_PAGE_ORDERS in any
era.  Under the inclusive meaning (6.4 on) `PAGE_SIZE << MAX_PAGE_ORDER` is the
largest block and is silent; `MAX_PAGE_ORDER - 1` used as the largest order is
KS004's.  A file that defines its own MAX_ORDER is judged by its own definition.

Why: such a size is used as "the most one allocation can get": a cap on a buffer
(sparc tsb_grow, floppy MAX_LEN), an alignment (um linux_main).  It is one order too
big, so the allocation it caps fails, or warns, at exactly the size the cap allows.
Upstream fixed these sites just before 6.4 (75558ad31548, 254ca6d261d4, 5f29298fba1a).

Example (6.1, exclusive):
    if (size > (PAGE_SIZE << MAX_ORDER))    /* KS005 */
        size = PAGE_SIZE << MAX_ORDER;      /* KS005 */

Fix: `PAGE_SIZE << (MAX_ORDER - 1)` before 6.4; `PAGE_SIZE << MAX_PAGE_ORDER` after.
"""

import re
from collections.abc import Iterator

from kscan.analysis.maxorder import COUNT, MAX_ORDER_NEEDS, defines, operands, uses
from kscan.analysis.project import Project
from kscan.analysis.rule import Rule
from kscan.facts.records import NameUse
from kscan.findings import Finding, Level, OrderAsk
from kscan.patterns import compiled

_SHIFT_BY = re.compile(r"<<\s*(\w+)\b(?!\s*[-+])")
_SHIFT_BY_SUM = re.compile(r"<<\s*\(\s*\w+\s*\+\s*(\w+)\s*\)")
_MASK_SHIFT = re.compile(r"\(?\s*2U?L{0,2}\s*\)?")


class BlockSize(Rule):
    id = "KS005"
    name = "block-size-from-max-order"
    family = "max-order"
    severity = Level.MEDIUM
    confidence = Level.HIGH
    needs = MAX_ORDER_NEEDS

    def check(self, project: Project) -> Iterator[Finding]:
        for facts, use, meaning, role in uses(project):
            if role == COUNT and _shifted_by(use):
                yield self.finding(
                    facts,
                    use.line,
                    use.col,
                    use.function,
                    f"`{_shift_text(use)}` is twice the largest block: "
                    f"{meaning.describe(use.name)}",
                    order=OrderAsk(use.name, 0, meaning.semantics),
                    properties=(("semantics", meaning.semantics),),
                )
        for facts, define, meaning in defines(project):
            for name in _shift_names(define.value):
                if meaning.role(name) == COUNT:
                    yield self.finding(
                        facts,
                        define.line,
                        1,
                        None,
                        f"#define {define.name} shifts by {name}, twice the largest block: "
                        f"{meaning.describe(name)}",
                        order=OrderAsk(name, 0, meaning.semantics),
                        properties=(("semantics", meaning.semantics),),
                    )


def _shifted_by(use: NameUse) -> bool:
    """`x << NAME` (not the `2U << NAME` mask), or `1 << (PAGE_SHIFT + NAME)`."""
    ops = operands(use)
    if ops is None:
        return False
    if ops.op == "<<" and not ops.name_left:
        return not _MASK_SHIFT.fullmatch(ops.other)
    if ops.op == "+":
        return bool(compiled(r"<<\s*\(\s*" + re.escape(use.parent) + r"\s*\)").search(use.context))
    return False


def _shift_text(use: NameUse) -> str:
    return use.parent if "<<" in use.parent else f"<< ({use.parent})"


def _shift_names(value: str) -> set[str]:
    names = _SHIFT_BY.findall(value)
    names += _SHIFT_BY_SUM.findall(value)
    return set(names)


RULE = BlockSize()
