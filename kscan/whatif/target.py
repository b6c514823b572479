"""The question a what-if asks: this architecture, with N as its largest buddy order.

N is always the largest valid order (MAX_PAGE_ORDER since 6.8, MAX_ORDER since 6.4,
MAX_ORDER - 1 before): `Target.macro` says how the scanned tree spells it.  The
geometry comes from the model (kscan/model/), read from the tree's arch/ where it
says it: page size, SECTION_SIZE_BITS, HUGETLB_PAGE_ORDER.  `values()` gives the
numbers a C expression about them evaluates to, for the guards and the reasons.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise

from kscan.discover.treeinfo import Semantics
from kscan.model.geometry import Geometry, fmt_size

# Limits the kernel's guards compare orders with (include/linux/limits.h).
_LIMITS = {"S8_MAX": 127, "U8_MAX": 255, "S16_MAX": 32767, "U16_MAX": 65535, "BITS_PER_LONG": 64}
# Orders asked about when telling at which values a guard fires.
ORDERS = range(0, 64)


@dataclass(frozen=True)
class Target:
    order: int  # N: the largest buddy order asked about
    today: Geometry  # the architecture as configured today
    semantics: Semantics  # the tree's MAX_ORDER meaning

    @cached_property
    def geometry(self) -> Geometry:
        return self.today.with_max_page_order(self.order)

    @property
    def arch(self) -> str:
        """The arch/ directory of the architecture ("x86", "arm64")."""
        return self.today.arch

    @property
    def section_order(self) -> int:
        return self.today.section_size_bits - self.today.page_shift

    @property
    def exceeds_section(self) -> bool:
        """What the section classes are about: a largest block bigger than a section."""
        return self.geometry.block_exceeds_section

    @property
    def macro(self) -> tuple[str, int]:
        """How the tree spells N: ("MAX_ORDER", 19) in a 6.1 tree, ("MAX_PAGE_ORDER", 18)."""
        return self.geometry.max_order_macro(self.semantics)

    def block(self, order: int | None = None) -> str:
        """`order 18 (1 GiB)`."""
        order = self.order if order is None else order
        return f"order {order} ({self.today.order_size(order)})"

    @property
    def headline(self) -> str:
        """One line for the top of a report."""
        name, value = self.macro
        g = self.geometry
        section = fmt_size(1 << g.section_size_bits)
        return (
            f"{g.title}: largest buddy order N = {self.order} ({g.order_size(self.order)} "
            f"blocks; {name} = {value} in this tree, {self.semantics}) against "
            f"{section} sections (SECTION_SIZE_BITS {g.section_size_bits}); today "
            f"{self.today.max_page_order} ({self.today.order_size(self.today.max_page_order)})"
        )

    def question(self) -> dict[str, object]:
        """The question as plain data, for reports."""
        g, today = self.geometry, self.today
        name, value = self.macro
        return {
            "largest_order": self.order,
            "block_size": g.order_size(self.order),
            "macro": name,
            "macro_value": value,
            "semantics": self.semantics,
            "arch": g.arch,
            "preset": today.name,
            "page_size": fmt_size(g.page_size),
            "section_size": fmt_size(1 << g.section_size_bits),
            "section_order": self.section_order,
            "exceeds_section": self.exceeds_section,
            "pageblock_order": g.pageblock_order,
            "today_largest_order": today.max_page_order,
            "geometry_source": today.source,
        }

    def values(self, order: int | None = None, hugetlb: bool = True) -> dict[str, int]:
        """Symbol -> value with `order` (default N) as the largest order: what the
        guards and the geometry macros of the kernel evaluate to."""
        order = self.order if order is None else order
        g = self.today
        exclusive = self.semantics == "exclusive"
        max_order = order + 1 if exclusive else order
        pageblock = min(g.pmd_order, order) if hugetlb else order
        section_shift = g.section_size_bits - g.page_shift
        return {
            **_LIMITS,
            "MAX_ORDER": max_order,
            "MAX_PAGE_ORDER": order,
            "NR_PAGE_ORDERS": order + 1,
            "MAX_ORDER_NR_PAGES": 1 << order,
            "CONFIG_ARCH_FORCE_MAX_ORDER": max_order,
            "CONFIG_FORCE_MAX_ZONEORDER": max_order,
            "PAGE_SHIFT": g.page_shift,
            "PAGE_SIZE": g.page_size,
            "SECTION_SIZE_BITS": g.section_size_bits,
            "PA_SECTION_SHIFT": g.section_size_bits,
            "PFN_SECTION_SHIFT": section_shift,
            "PAGES_PER_SECTION": 1 << section_shift,
            "SUBSECTION_SHIFT": 21,
            "HUGETLB_PAGE_ORDER": g.pmd_order,
            "HPAGE_PMD_ORDER": g.pmd_order,
            "PMD_ORDER": g.pmd_order,
            "PUD_ORDER": g.gigantic_order,
            "pageblock_order": pageblock,
            "pageblock_nr_pages": 1 << pageblock,
        }

    def firing_orders(self, cond: str, defined: frozenset[str] = frozenset()) -> list[int] | None:
        """The largest orders at which a C condition holds (None: it names something
        this cannot evaluate).  `defined`: the symbols `defined(X)` is true for."""
        results = []
        for order in ORDERS:
            value = evaluate(cond, self.values(order), defined)
            if value is None:
                return None
            if value:
                results.append(order)
        return results


def compiled(conditions: list[str], config: tuple[frozenset[str], frozenset[str]]) -> bool:
    """Whether code under these #if conditions can be built, given the (set, unset)
    CONFIG_ symbols: it cannot when a condition is false for every choice of the
    symbols neither set names (tried one by one up to _FREE symbols; more, or what
    cannot be evaluated, counts as built)."""
    always, never = config
    for cond in conditions:
        free = sorted({m[1] for m in _DEFINED.finditer(cond)} - always - never)
        if len(free) > _FREE:
            continue
        choices = (
            frozenset(s for i, s in enumerate(free) if mask >> i & 1)
            for mask in range(1 << len(free))
        )
        if not any(evaluate(cond, {}, always | chosen) != 0 for chosen in choices):
            return False
    return True


_FREE = 8


def describe_orders(orders: list[int]) -> str:
    """[16, 17, ..., 63] -> "N >= 16"; [0, ..., 8] -> "N <= 8"."""
    if not orders:
        return f"no N below {ORDERS.stop}"
    runs, start = [], orders[0]
    for prev, cur in pairwise(orders):
        if cur != prev + 1:
            runs.append((start, prev))
            start = cur
    runs.append((start, orders[-1]))
    parts = []
    for low, high in runs:
        if low == high:
            parts.append(f"N = {low}")
        elif low == ORDERS.start:
            parts.append(f"N <= {high}")
        elif high == ORDERS.stop - 1:
            parts.append(f"N >= {low}")
        else:
            parts.append(f"{low} <= N <= {high}")
    return " or ".join(parts)


# -- a small evaluator for preprocessor and BUILD_BUG_ON conditions ------------------------

_NOT = re.compile(r"!(?!=)")
_DEFINED = re.compile(r"\bdefined\s*\(?\s*(\w+)\s*\)?")
_NUMBER_SUFFIX = re.compile(r"\b(0x[0-9a-fA-F]+|\d+)[uUlL]+\b")
# `a ? b : c` with no parentheses or ternary inside its parts (hisilicon's block size).
_TERNARY = re.compile(r"([^()?:]+)\?([^()?:]+):([^()?:]+)")
_CAST = re.compile(r"\(\s*(?:unsigned\s+)?(?:long|int|u8|u16|u32|u64|char)\s*\)")
_BINARY: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type[ast.cmpop], Callable[[int, int], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def evaluate(
    cond: str, values: dict[str, int], defined: frozenset[str] = frozenset()
) -> int | None:
    """A C integer expression of known symbols, or None when it names an unknown one
    (a function-like macro, a type, a symbol the geometry does not say)."""
    text = _DEFINED.sub(lambda m: " 1 " if m[1] in defined else " 0 ", without_comments(cond))
    text = _CAST.sub(" ", _NUMBER_SUFFIX.sub(r"\1", text))
    text = text.replace("&&", " and ").replace("||", " or ").replace("/", "//")
    text = _NOT.sub(" not ", text)
    text = _TERNARY.sub(r"(\2 if \1 else \3)", text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
        return int(_value(tree.body, values))
    except (SyntaxError, _Unknown, ZeroDivisionError, ValueError, RecursionError):
        return None


def without_comments(text: str) -> str:
    return " ".join(_COMMENT.sub(" ", text).split())


_COMMENT = re.compile(r"/\*.*?\*/|//.*")


class _Unknown(Exception):
    pass


def _value(node: ast.AST, values: dict[str, int]) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Name) and node.id in values:
        return values[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_value(node.left, values), _value(node.right, values))
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, values)
        if isinstance(node.op, ast.Not):
            return int(not operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.Invert):
            return ~operand
    if isinstance(node, ast.IfExp):
        test = _value(node.test, values)
        return _value(node.body if test else node.orelse, values)
    if isinstance(node, ast.BoolOp):
        results = [_value(v, values) for v in node.values]
        return int(all(results) if isinstance(node.op, ast.And) else any(results))
    if isinstance(node, ast.Compare):
        left = _value(node.left, values)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _value(right_node, values)
            if type(op) not in _COMPARE or not _COMPARE[type(op)](left, right):
                return 0
            left = right
        return 1
    raise _Unknown(ast.dump(node))
