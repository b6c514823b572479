"""Buddy merging and splitting: struct page arithmetic between a block and its buddy.

What: a function that reaches from one struct page of a buddy block to another by
pointer arithmetic rather than through its PFN:
- a merge reads the buddy: `find_buddy_page_pfn()` (`page + (buddy_pfn - pfn)`), the
  combined head `page + (combined_pfn - pfn)`, the head of a candidate free block
  `page - (pfn & ((1 << order) - 1))`;
- a split or a jump inside a block: `&page[size]` / `page + size` with `size = 1 <<
  order`, `page + (1 << order)` (expand(), break_down_buddy_pages(), __free_pages()).
Only blocks that can reach the largest order count (kscan/whatif/orders.py): a
merge loop bounded by MAX_PAGE_ORDER, an order the allocator or a MAX_ORDER-bounded
caller hands down.  Walks over every page of a block are the page-walk class's.

Why: while every block fits in a section, a block and its buddy always share the
section, so the buddy's struct page exists, is initialised and sits at `page + n`.
mm/internal.h says it above __find_buddy_pfn(): "Assumption: *_mem_map is contiguous
at least up to MAX_PAGE_ORDER".  With blocks larger than a section, an order-16+
buddy (x86_64) lies in another section, which may be absent (no memmap: reading it
faults even with SPARSEMEM_VMEMMAP) or offline (a poisoned memmap), and without
SPARSEMEM_VMEMMAP `page + n` is not its struct page at all.  A split stays inside one
free block, all of it present memory, so it only needs a contiguous memmap.

Example (6.12 mm/page_alloc.c, __free_one_page()):
    while (order < MAX_PAGE_ORDER) {
        buddy = find_buddy_page_pfn(page, pfn, order, &buddy_pfn);   /* reads the buddy */
        ...
        page = page + (combined_pfn - pfn);

Fix: for merges, test the buddy's section (pfn_valid(buddy_pfn) and online, or the
same section) before reading its struct page once order >= PFN_SECTION_SHIFT, and get
it with pfn_to_page(buddy_pfn); for splits, nth_page(page, size) or
pfn_to_page(pfn + size).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kscan.analysis.project import Project
from kscan.discover.prefilter import needs
from kscan.facts.records import Call, FileFacts, Function, Offset
from kscan.findings import Finding, Level, Location, Related
from kscan.vocab import identifiers
from kscan.whatif.analysis import ALWAYS, WITHOUT_VMEMMAP, Analysis
from kscan.whatif.orders import SHIFTS, Reach

Jump = tuple[Offset, str, str]  # (offset, "merge" | "split", why the order can be N)

_MERGE_CALLS = frozenset({"find_buddy_page_pfn"})
# An offset built from PFNs: a difference of two, or a PFN masked to a block.
_PFN_OFFSET = re.compile(r"\w*pfn\w*\s*-\s*\w*pfn\b|\bpfn\w*\s*&")
_JUMP_OPS = ("+", "-", "[]", "+=", "-=")
# `i`, `i + 1`, `(j - 1)`: a loop counter as the offset (a walk, not a jump).
_COUNTER = re.compile(r"\(?\s*([A-Za-z_]\w*)\s*(?:[-+]\s*\w+\s*)?\)?")


class BuddyArithmetic(Analysis):
    id = "WI1"
    name = "buddy-arithmetic"
    severity = Level.HIGH
    confidence = Level.MEDIUM
    needs = (needs(["buddy"]), needs(SHIFTS))
    fix = (
        "merges: check the buddy's section before reading its struct page, and use "
        "pfn_to_page(buddy_pfn); splits: nth_page(page, n) or pfn_to_page(pfn + n)"
    )

    def sites(self, project: Project) -> Iterator[Finding]:
        reach = self.context.reach(project)
        for facts in self.files(project):
            by_function: dict[str, list[Offset]] = {}
            for offset in facts.offsets:
                if offset.op in _JUMP_OPS:
                    by_function.setdefault(offset.function, []).append(offset)
            for fn in facts.functions:
                merges = [c for c in fn.calls if c.name in _MERGE_CALLS]
                jumps = [o for o in by_function.get(fn.name, ()) if fn.span.contains(o.byte)]
                if not merges and not jumps:
                    continue
                orders = reach.order_vars(facts, fn)
                if not orders:
                    merges = []  # no order here reaches the largest one
                block_jumps = self._block_jumps(facts, fn, jumps, reach)
                if merges or block_jumps:
                    var, why = next(iter(orders.items())) if orders else ("", "")
                    note = f"{var} {why}" if orders else block_jumps[0][2]
                    self.claim_function(facts, fn)
                    yield self._site(facts, fn, merges, block_jumps, note)

    def _block_jumps(
        self, facts: FileFacts, fn: Function, jumps: list[Offset], reach: Reach
    ) -> list[Jump]:
        """(offset, kind, why): jumps by a block that can reach the largest order."""
        orders = reach.order_vars(facts, fn)
        walked = _walked_vars(facts, fn)
        out: list[Jump] = []
        for jump in jumps:
            names = identifiers(jump.offset)
            counter = _COUNTER.fullmatch(jump.offset)
            if (counter and counter[1] in walked) or jump.offset.strip("() ") in ("1", "-1"):
                continue  # one step of a walk: the page-walk class's
            if _PFN_OFFSET.search(jump.offset) and orders:
                var, why = next(iter(orders.items()))
                out.append((jump, "merge", f"{var} {why}"))
                continue
            block = reach.block_in(jump.offset, facts, fn)
            if block is None and jump.op == "[]" and len(names) == 1:
                block = reach.block_in(next(iter(names)), facts, fn)
            if block is not None:
                out.append((jump, "split", block))
        return out

    def _site(
        self,
        facts: FileFacts,
        fn: Function,
        merges: list[Call],
        jumps: list[Jump],
        reach_note: str,
    ) -> Finding:
        lines = sorted(
            {(c.line, c.col, "merge", f"{c.name}()") for c in merges}
            | {(j.line, j.col, kind, _text(j)) for j, kind, _ in jumps}
        )
        merging = any(kind == "merge" for _, _, kind, _ in lines)
        line, col, _, _ = lines[0]
        what = ", ".join(dict.fromkeys(text for *_, text in lines))
        n = self.target.order
        section = self.target.section_order
        if merging:
            reason = (
                f"{fn.name}() reaches a buddy's struct page by arithmetic ({what}); at "
                f"order >= {section} (N = {n}) the buddy lies in another section, which can "
                "be absent or offline, and its struct page is not `page + n` without VMEMMAP"
            )
            when = ALWAYS
        else:
            reason = (
                f"{fn.name}() jumps inside a block by pointer arithmetic ({what}); a block of "
                f"order >= {section} (up to {n}) spans sections, whose memmaps are not "
                "contiguous without VMEMMAP"
            )
            when = WITHOUT_VMEMMAP
        reason += f"; the order can be N: {reach_note}"
        related = tuple(
            Related(_location(facts, ln, cl, fn.name), f"{kind}: {text}")
            for ln, cl, kind, text in lines[1:]
        )
        return self.site(
            facts,
            line,
            col,
            fn.name,
            reason,
            when,
            severity=Level.HIGH if merging else Level.MEDIUM,
            related=related,
        )


def _walked_vars(facts: FileFacts, fn: Function) -> set[str]:
    """Variables that loops in fn step by one: `page + i` there is a walk."""
    walked: set[str] = set()
    for loop in facts.loops_in(fn.span):
        walked |= {s.var for s in loop.steps if s.amount in ("1",) or s.op in ("++", "--")}
    return walked


def _text(offset: Offset) -> str:
    if offset.op == "[]":
        return f"&{offset.base}[{offset.offset}]"
    return f"{offset.base} {offset.op} {offset.offset}"


def _location(facts: FileFacts, line: int, col: int, function: str) -> Location:
    return Location(facts.path, line, col, function)
