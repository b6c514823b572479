"""Which variables can hold the largest order N, or a block of 2^N pages.

`page + i` over `1 << order` pages only leaves a section when `order` can be as large as
the largest buddy order; a driver's `get_order(SZ_64K)` never is.  So the what-if
follows orders from where the code ties them to MAX_ORDER down the call graph.

A variable of a function reaches the largest order (an *order*) when:
- the function bounds it by a MAX_ORDER-family name: `order > MAX_PAGE_ORDER` (the
  allocator's own check in __alloc_pages), `o < NR_PAGE_ORDERS` (an order loop),
  `min(..., MAX_PAGE_ORDER)` or `= MAX_PAGE_ORDER` (chunked freeing and onlining);
- it holds the order of a free block: `order = buddy_order(page)`;
- it is a parameter, and a caller passes an argument built from one of its own
  orders or blocks, or from a MAX_ORDER-family name (`__free_pages_core(page,
  MAX_PAGE_ORDER)`);
- it is a local computed from an order of the function (`high = order - 1`).
It holds a block's page count (a *block*) when it is computed as `1 << order` from an
order, compared with or set to MAX_ORDER_NR_PAGES, or passed such a count.

The flow runs over the calls whose arguments the facts keep (what-if parses every body
of the files it reads) and resolves callees by name, a file's statics first.  Function
pointers and struct fields (`cc->order`) end it: orders stored in a structure are not
followed, so the compaction and reclaim paths are under-reported, never invented.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from kscan.analysis.project import Project
from kscan.facts.records import FileFacts, Function, NameUse
from kscan.patterns import compiled
from kscan.vocab import identifiers

LARGEST_NAMES = frozenset({"MAX_ORDER", "MAX_PAGE_ORDER", "NR_PAGE_ORDERS"})
BLOCK_NAMES = frozenset({"MAX_ORDER_NR_PAGES"})
# Reading a free block's order: any order up to the largest.
FREE_BLOCK_ORDER = re.compile(r"\bbuddy_order(?:_unsafe)?\s*\(")
_ASSIGNED = re.compile(r"^\s*(?:[\w\s\*]+\s\**)?([A-Za-z_]\w*)\s*=(?!=)")
_SHIFTED = r"<<\s*\(?\s*{}\b"
_COMPARES = re.compile(r"[<>]=?|==|!=")
_MIN_MAX = re.compile(r"\b(?:min|max|clamp)\w*\s*\(")
# How code that takes a block as `1 << order` spells it: the bytes a file must hold
# for its walks over such a block to be found (kscan/discover/prefilter.py needs).
SHIFTS = ("<< order", "<<order", "<< (order")


@dataclass
class Reach:
    """Per function (keyed by FileFacts path and function start byte): its orders and
    blocks, and why (the first reason found, for messages)."""

    orders: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)
    blocks: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)

    def order_vars(self, facts: FileFacts, fn: Function) -> dict[str, str]:
        return self.orders.get((facts.path, fn.span.start_byte), {})

    def block_vars(self, facts: FileFacts, fn: Function) -> dict[str, str]:
        return self.blocks.get((facts.path, fn.span.start_byte), {})

    def block_in(self, text: str, facts: FileFacts, fn: Function) -> str | None:
        """Why `text` (a count, a bound) can be a whole block of the largest order:
        `1 << order` of an order, a block variable, or a MAX_ORDER-family name."""
        names = identifiers(text)
        if names & BLOCK_NAMES:
            return "MAX_ORDER_NR_PAGES pages"
        for var, why in self.order_vars(facts, fn).items():
            if compiled(_SHIFTED.format(re.escape(var))).search(text):
                return f"1 << {var}, and {var} {why}"
        for name in names & LARGEST_NAMES:
            if compiled(_SHIFTED.format(name)).search(text):
                return f"1 << {name}"
        for var, why in self.block_vars(facts, fn).items():
            if var in names:
                return f"{var} pages, and {var} {why}"
        return None


def reach(project: Project) -> Reach:
    """Orders and blocks of every function, to a fixed point over the calls."""
    found = Reach()
    queue: deque[tuple[FileFacts, Function]] = deque()
    for facts in project.files:
        uses = _uses_by_function(facts)
        for fn in facts.functions:
            key = (facts.path, fn.span.start_byte)
            orders, blocks = _seeds(fn, uses.get(fn.span.start_byte, ()))
            if orders or blocks:
                found.orders[key] = orders
                found.blocks[key] = blocks
                queue.append((facts, fn))
    while queue:
        facts, fn = queue.popleft()
        key = (facts.path, fn.span.start_byte)
        _derive_locals(fn, found.orders.setdefault(key, {}), found.blocks.setdefault(key, {}))
        for callee_facts, callee, position, kind, why in _passed(project, facts, fn, found):
            params = callee.params
            if position >= len(params) or not params[position][0]:
                continue
            name = params[position][0]
            target = found.orders if kind == "order" else found.blocks
            known = target.setdefault((callee_facts.path, callee.span.start_byte), {})
            if name not in known:
                known[name] = why
                queue.append((callee_facts, callee))
            elif _nearer(facts.path, callee_facts.path, known[name]):
                known[name] = why  # the same reach, told from a caller closer to home
    return found


def _nearer(caller: str, callee: str, known: str) -> bool:
    """A caller in the callee's own directory explains a reach better than one from
    elsewhere in the tree (`__free_pages()` is reached from mm/ and from drivers)."""
    home = callee.rsplit("/", 1)[0] + "/"
    return caller.startswith(home) and f"({home}" not in known


def _uses_by_function(facts: FileFacts) -> dict[int, list[NameUse]]:
    """Function start byte -> the MAX_ORDER-family uses in it."""
    out: dict[int, list[NameUse]] = {}
    for fn in facts.functions:
        uses = [u for u in facts.uses_in(fn.span) if u.name in LARGEST_NAMES | BLOCK_NAMES]
        if uses:
            out.setdefault(fn.span.start_byte, []).extend(uses)
    return out


def _seeds(fn: Function, uses: Iterable[NameUse]) -> tuple[dict[str, str], dict[str, str]]:
    orders: dict[str, str] = {}
    blocks: dict[str, str] = {}
    for use in uses:
        target = blocks if use.name in BLOCK_NAMES else orders
        for var in _bounded_vars(use):
            target.setdefault(var, f"is bounded by {use.name} in {fn.name}()")
    for var, value in fn.values:
        if FREE_BLOCK_ORDER.search(value):
            orders.setdefault(var, f"is a free block's order in {fn.name}()")
    return orders, blocks


def _bounded_vars(use: NameUse) -> set[str]:
    """The variables a MAX_ORDER-family use bounds: the other side of a comparison or
    assignment (`order < MAX_ORDER - 1` too), or what a min()/clamp() with it is
    assigned to."""
    if use.parent_kind == "binary_expression" and compiled(
        rf"{use.name}\s*[-+]\s*\d+[uUlL]*"
    ).fullmatch(use.parent):
        offset = re.escape(use.parent)
        match = compiled(rf"(\w+)\s*(?:<=|<|>=|>|==|!=)\s*\(?\s*{offset}").search(use.context)
        if match:
            return set() if match[1].isupper() else {match[1]}
        return _clamped(use)
    if use.parent_kind in ("binary_expression", "assignment_expression", "init_declarator"):
        if use.parent_kind == "binary_expression" and not _COMPARES.search(use.parent):
            return set()
        names = {n for n in identifiers(use.parent) if not n.isupper()}
        if use.parent_kind != "binary_expression":
            match = _ASSIGNED.match(use.parent)
            names = {match[1]} if match else set()
        return names
    if use.parent_kind == "argument_list":
        return _clamped(use)
    return set()


def _clamped(use: NameUse) -> set[str]:
    """What `x = min(..., MAX_ORDER - 1UL, ...)` assigns to."""
    if not _MIN_MAX.search(use.context):
        return set()
    match = _ASSIGNED.match(use.context)
    return {match[1]} if match else set()


def _derive_locals(fn: Function, orders: dict[str, str], blocks: dict[str, str]) -> None:
    """Locals computed by arithmetic on the function's orders and blocks (`high = order
    - 1`, `nr_pages = 1 << order`), to a fixed point.  A call, a member or an index in
    the value (`area = &zone->free_area[order]`) makes something else of it."""
    grew = True
    while grew:
        grew = False
        for var, value in fn.values:
            if var in orders or var in blocks or not _ARITHMETIC.fullmatch(value):
                continue
            kind = _carried(value, orders, blocks)
            if kind is not None:
                (orders if kind == "order" else blocks)[var] = f"= {value}"
                grew = True


def _passed(
    project: Project, facts: FileFacts, fn: Function, found: Reach
) -> Iterator[tuple[FileFacts, Function, int, str, str]]:
    """(callee file, callee, argument position, "order" | "block", why) for each
    argument of fn's calls that carries one of its orders or blocks."""
    orders = found.order_vars(facts, fn)
    blocks = found.block_vars(facts, fn)
    for call in fn.calls:
        if not call.args_text:
            continue
        for position, arg in enumerate(call.args):
            kind = _carried(arg, orders, blocks)
            if kind is None:
                continue
            why = f"is passed `{arg}` by {fn.name}() ({facts.path}:{call.line})"
            for callee_facts, callee in callees(project, facts, call.name):
                yield callee_facts, callee, position, kind, why


def _carried(arg: str, orders: dict[str, str], blocks: dict[str, str]) -> str | None:
    """ "order" or "block" when `arg` is arithmetic on an order or a block (or names
    the MAX_ORDER family), else None."""
    if not _ARITHMETIC.fullmatch(arg):
        return None
    names = identifiers(arg)
    local = {n for n in names if not n.isupper()}
    if names & BLOCK_NAMES or any(
        compiled(_SHIFTED.format(re.escape(o))).search(arg) for o in orders
    ):
        return "block" if local <= set(orders) | set(blocks) else None
    if names & LARGEST_NAMES and "<<" not in arg:
        return "order" if local <= set(orders) else None
    if local and local <= set(orders):
        return "order"
    if local and local <= set(orders) | set(blocks):
        return "block"
    return None


# Arithmetic on names and numbers: no call, member, index or string.
_ARITHMETIC = re.compile(r"[\w\s()+\-*/<>&|^~]+")


def callees(project: Project, facts: FileFacts, name: str) -> list[tuple[FileFacts, Function]]:
    """The definitions a call to `name` from `facts` reaches: the file's own first, else
    every definition other files can see (not a static of another .c file)."""
    defs = project.functions_by_name.get(name, ())
    own = [(f, fn) for f, fn in defs if f is facts]
    if own:
        return own
    return [(f, fn) for f, fn in defs if not (fn.static and f.path.endswith(".c"))]
