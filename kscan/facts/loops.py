"""Loops: for/while/do, and iterator macros in the shapes tree-sitter-c gives them.

Every loop gets its kind, span, condition, the calls of its condition and the loop it
nests in.  Loops that can matter (their text mentions pfn, page or folio: `detailed`)
also get their body facts: guarded exits, steps, calls, assignments from calls and
pointer arithmetic, and the file gets the `if`s and `?:`s that guard those calls.

All of it is linear in the file: one query per outermost detailed loop collects what
every loop in it needs, and each fact goes to the innermost loop that holds it, found
by a sweep over sorted byte offsets.  A loop keeps only its own facts; its nested
loops' reach it through `parent` (kscan/analysis/nesting.py), and a guard reaches the
guards around it the same way.  Per-loop queries over nested loops, or every
enclosing guard copied onto every call, cost n x n in a nest n deep.

Iterator macros come out of tree-sitter-c in several shapes; each is mapped back to a
Loop of kind "macro" (see macro_sites).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from functools import partial
from itertools import chain
from typing import NamedTuple

import tree_sitter as ts

from kscan.facts.calls import callee_end
from kscan.facts.descent import Descent
from kscan.facts.functions import FunctionFinder
from kscan.facts.intervals import innermost, nesting
from kscan.facts.records import (
    Assign,
    Call,
    Exit,
    Guard,
    Index,
    Loop,
    LoopCall,
    Span,
    Step,
    mentions,
)
from kscan.facts.source import Text, declared_name, query
from kscan.parse.parser import ParsedFile
from kscan.vocab import IDENT

_LOOP_WORDS = re.compile(rb"pfn|page|folio")
_LOOP_MACRO = re.compile(r"for_each")
_GUARD_NAME = re.compile(rb"[A-Za-z_]\w*")

# A pattern whose later child is tested (an operator after a left operand) stays open
# in the query cursor while the earlier children's subtrees are walked: in `a + b + c
# + ...` n deep, n patterns at once, n x n steps in C.  So the first child is tested
# (the identifier left of a `+`), or none (a comma expression: its parts are read from
# the node).
_DETAIL_QUERY = """
    (if_statement) @guard
    (conditional_expression) @guard
    (continue_statement) @continue
    (break_statement) @break
    (return_statement) @return
    (goto_statement) @goto
    (update_expression) @update
    (assignment_expression) @assign
    (expression_statement [(update_expression) (assignment_expression)] @statement)
    (comma_expression) @comma
    (init_declarator value: (call_expression)) @init_call
    (binary_expression left: (identifier) operator: "+") @plus
    (subscript_expression) @subscript
    """
_JUMPS = ("continue", "break", "return", "goto")  # in the order exits at one byte keep
_LOOP_KINDS = {"for_statement": "for", "while_statement": "while", "do_statement": "do"}


class LoopSite(NamedTuple):
    """A loop as found in the tree: its fact so far, the nodes that hold all of it (the
    statement; a macro's head and body), and its for-update clause."""

    loop: Loop
    nodes: tuple[ts.Node, ...]
    update: tuple[int, int] | None = None


class LoopFacts(NamedTuple):
    loops: list[Loop]
    guards: list[Guard]
    guard_names: tuple[tuple[int, str], ...]


def plain_site(text: Text, node: ts.Node) -> LoopSite:
    kind = _LOOP_KINDS[node.type]
    body = node.child_by_field_name("body") or node
    cond = node.child_by_field_name("condition")
    init = node.child_by_field_name("initializer")
    update = node.child_by_field_name("update")
    loop = Loop(
        kind=kind,
        function=None,
        span=text.span(node),
        body=text.span(body),
        cond=text.flat(cond) if cond is not None else "",
        init=text.flat(init) if init is not None else "",
    )
    return LoopSite(loop, (node,), (update.start_byte, update.end_byte) if update else None)


def macro_sites(
    parsed: ParsedFile, text: Text, calls: list[ts.Node], fake_fns: list[ts.Node]
) -> list[LoopSite]:
    """Iterator-macro loops in the shapes tree-sitter-c gives them.

    - `m(a, b) { ... }` / `m(a, b)\\n stmt;`: a call statement with a MISSING `;`, whose
      body is the next sibling statement;
    - `m(a)\\n x += f(a);`: the body fused into an assignment whose left side is the call;
    - `m(a) { ... }` (one argument): a fake function definition named by the macro.
    A fourth shape, `m(a)\\n f(a);`, parses as a declaration whose body call became a
    declarator: nothing in it is a call or an access, so it is not recovered.
    """
    sites = []
    heads = [c for c in calls if text.src.find(b"for_each", c.start_byte, callee_end(c)) >= 0]
    for root, in_root in _by_root(parsed, heads).items():
        descent = Descent(root)
        for call in in_root:
            site = _macro_call_site(text, descent, call)
            if site is not None:
                sites.append(site)
    for fn in fake_fns:
        kind = fn.child_by_field_name("type")
        name = text.of(kind) if kind is not None else ""
        body = fn.child_by_field_name("body")
        if _LOOP_MACRO.search(name) and body is not None:
            loop = _macro_loop(text, name, fn, fn.child_by_field_name("declarator"), body)
            sites.append(LoopSite(loop, (fn,)))
    return sites


def _by_root(parsed: ParsedFile, nodes: list[ts.Node]) -> dict[ts.Node, list[ts.Node]]:
    """The nodes of each tree (the main one, re-parsed chunks), in file order."""
    out: dict[ts.Node, list[ts.Node]] = {}
    for node in sorted(nodes, key=lambda n: (n.start_byte, -n.end_byte)):
        out.setdefault(parsed.root_for(node.start_byte), []).append(node)
    return out


def _macro_call_site(text: Text, descent: Descent, call: ts.Node) -> LoopSite | None:
    if descent.reach(call.start_byte, call.end_byte) != call:
        return None
    parent = descent.ancestor(1)
    if parent is None:
        return None
    name = text.src[call.start_byte : callee_end(call)].decode()
    args = call.child_by_field_name("arguments")
    if parent.type == "expression_statement":
        last = parent.child(parent.child_count - 1)
        if last is None or not last.is_missing:
            return None  # a real `;`: a call, not a loop head
        body = descent.next_named_sibling(1)
        if body is None:
            return None
        return LoopSite(_macro_loop(text, name, call, args, body), (parent, body))
    if parent.type == "assignment_expression" and parent.child_by_field_name("left") == call:
        right = parent.child_by_field_name("right")
        if right is None:
            return None
        return LoopSite(_macro_loop(text, name, call, args, right), (parent,))
    return None


def _macro_loop(text: Text, name: str, head: ts.Node, args: ts.Node | None, body: ts.Node) -> Loop:
    arg_nodes = [a for a in args.named_children if a.type != "comment"] if args else []
    start = Text.span(head)
    end = body.end_point
    span = Span(start.start_line, start.start_col, end[0] + 1, head.start_byte, body.end_byte)
    return Loop(
        kind="macro",
        function=None,
        span=span,
        body=text.span(body),
        cond=text.flat(args) if args is not None else "",
        macro=name,
        macro_args=tuple(text.flat(a) for a in arg_nodes),
    )


def loop_facts(
    parsed: ParsedFile,
    text: Text,
    sites: list[LoopSite],
    calls: list[Call],
    finder: FunctionFinder,
) -> LoopFacts:
    """Every loop with its own facts, the guards of the detailed ones and the names in
    the guards' conditions.  `sites` and `calls` in file order."""
    loops = [site.loop for site in sites]
    detailed = _detailed(text.src, loops)
    bodies = _Bodies(loops, detailed)
    captures = _captures([s for s, d in zip(sites, detailed, strict=True) if d])
    call_bytes = [c.byte for c in calls]
    guards = _Guards(text, captures.get("guard", []), calls, call_bytes)
    inside = _within(calls, call_bytes, bodies.detailed_spans())
    offsets = [c.byte for c in inside]
    for call, guard, held in zip(
        inside, guards.innermost(offsets), bodies.holders(offsets), strict=True
    ):
        held.calls.append(LoopCall(call, guard))
    _add_exits(captures, bodies, guards)
    _add_steps(text, captures, sites, bodies)
    assigns = [a for a in map(partial(_assign, text), _assign_nodes(captures)) if a is not None]
    for assign, held in zip(assigns, bodies.holders([a.byte for a in assigns]), strict=True):
        held.assigns.append(assign)
    indexes = list(_indexes(text, captures))
    for index, held in zip(indexes, bodies.holders([i.byte for i in indexes]), strict=True):
        held.indexes.append(index)

    out = []
    for loop, parent, own in zip(loops, bodies.parents, bodies.own, strict=True):
        start = loop.span.start_byte
        head = slice(
            bisect.bisect_left(call_bytes, start),
            bisect.bisect_left(call_bytes, loop.body.start_byte),
        )
        loop = loop._replace(
            function=finder.name_at(start),
            cond_calls=tuple(c.name for c in calls[head]),
            parent=parent,
        )
        out.append(own.into(loop) if own is not None else loop)
    return LoopFacts(out, guards.records, guards.names(text.src))


class _Own:
    """The body facts of one detailed loop, as they are found."""

    def __init__(self) -> None:
        self.calls: list[LoopCall] = []
        self.exits: list[tuple[int, int, int, Exit]] = []  # sorted by (byte, kind, jump)
        self.steps: list[tuple[int, Step]] = []
        self.assigns: list[Assign] = []
        self.indexes: list[Index] = []

    def into(self, loop: Loop) -> Loop:
        return loop._replace(
            steps=tuple(step for _, step in sorted(self.steps, key=lambda p: p[0])),
            calls=tuple(self.calls),
            exits=tuple(e[3] for e in sorted(self.exits, key=lambda e: e[:3])),
            assigns=tuple(sorted(self.assigns, key=lambda a: a.byte)),
            indexes=tuple(sorted(self.indexes, key=lambda i: i.byte)),
            detailed=True,
        )


class _Bodies:
    """The loops' bodies, and which loop's own facts a byte in them goes to."""

    def __init__(self, loops: list[Loop], detailed: list[bool]) -> None:
        self.spans = [(lp.body.start_byte, lp.body.end_byte) for lp in loops]
        self.parents = innermost(self.spans, [lp.span.start_byte for lp in loops])
        # the facts of each detailed loop; a loop that names no pfn, page or folio has
        # no facts of its own: the innermost detailed loop around it gets them
        self.own: list[_Own | None] = [_Own() if d else None for d in detailed]
        self.holder: list[_Own | None] = []
        for own, parent in zip(self.own, self.parents, strict=True):  # parents first
            self.holder.append(own or (self.holder[parent] if parent >= 0 else None))
        self._nowhere = _Own()  # what lies in no detailed loop's body, dropped

    def innermost(self, offsets: list[int]) -> list[int]:
        """The innermost loop whose body holds each offset (-1: none)."""
        return innermost(self.spans, offsets)

    def detailed_spans(self) -> list[tuple[int, int]]:
        """The bodies of the outermost detailed loops, in file order."""
        out: list[tuple[int, int]] = []
        for (start, end), own in zip(self.spans, self.own, strict=True):
            if own is not None and (not out or start >= out[-1][1]):
                out.append((start, end))
        return sorted(out)

    def holders(self, offsets: list[int]) -> list[_Own]:
        """Where the facts at each offset go: the innermost detailed loop holding it."""
        return [
            held if i >= 0 and (held := self.holder[i]) is not None else self._nowhere
            for i in self.innermost(offsets)
        ]


def _within(calls: list[Call], call_bytes: list[int], spans: list[tuple[int, int]]) -> list[Call]:
    """The calls in these spans (sorted, apart): most of a file's are in no loop."""
    out: list[Call] = []
    for start, end in spans:
        out += calls[bisect.bisect_left(call_bytes, start) : bisect.bisect_left(call_bytes, end)]
    return out


def _detailed(src: bytes, loops: list[Loop]) -> list[bool]:
    """Loops whose text names a pfn, a page or a folio.  The words are found once in
    each outermost loop, not searched for in every loop (a nest would search its text n
    times), nor in the rest of the file."""
    words: list[tuple[int, int]] = []
    covered = -1
    for loop in loops:  # by start: an outer loop before the loops in it
        start, end = loop.span.start_byte, loop.span.end_byte
        if start >= covered:
            words += ((m.start(), m.end()) for m in _LOOP_WORDS.finditer(src, start, end))
            covered = end
        elif end > covered:  # a macro loop's span can run past the one it starts in
            words += ((m.start(), m.end()) for m in _LOOP_WORDS.finditer(src, covered, end))
            covered = end
    starts = [start for start, _ in words]
    out = []
    for loop in loops:
        i = bisect.bisect_left(starts, loop.span.start_byte)
        out.append(i < len(words) and words[i][1] <= loop.span.end_byte)
    return out


def _captures(sites: list[LoopSite]) -> dict[str, list[ts.Node]]:
    """The detail query over the outermost detailed loops: nested loops' nodes lie in
    their parents', and each node is queried once."""
    nodes = sorted(
        chain.from_iterable(site.nodes for site in sites), key=lambda n: (n.start_byte, -n.end_byte)
    )
    merged: dict[str, list[ts.Node]] = {}
    covered = -1
    for node in nodes:
        if node.start_byte < covered:
            continue  # inside the last node queried (tree nodes nest or lie apart)
        covered = node.end_byte
        for name, found in ts.QueryCursor(query(_DETAIL_QUERY)).captures(node).items():
            merged.setdefault(name, []).extend(found)
    for found in merged.values():
        found.sort(key=lambda n: n.start_byte)
    return merged


def _assign_nodes(captures: dict[str, list[ts.Node]]) -> list[ts.Node]:
    return captures.get("assign", []) + captures.get("init_call", [])


class _Guards:
    """The ifs and ?:s of the detailed loops, as Guard records nested by `parent`."""

    def __init__(
        self, text: Text, nodes: list[ts.Node], calls: list[Call], call_bytes: list[int]
    ) -> None:
        self.text = text
        self.calls = calls
        self.call_bytes = call_bytes
        self.conds: list[ts.Node] = []
        self.spans: list[tuple[int, int]] = []  # of each if / ?: node
        parts = []
        for node in sorted(nodes, key=lambda n: (n.start_byte, -n.end_byte)):
            cond = node.child_by_field_name("condition")
            then = node.child_by_field_name("consequence")
            other = node.child_by_field_name("alternative")
            if cond is None or then is None:
                continue
            self.conds.append(cond)
            self.spans.append((node.start_byte, node.end_byte))
            parts.append((_range(cond), _range(then), _range(other) if other else None))
        self.records = [
            Guard(cond, then, other, parent)
            for (cond, then, other), parent in zip(parts, nesting(self.spans), strict=True)
        ]
        # the innermost guard whose then-branch holds each guard (parents come first)
        self.then_owner: list[int] = []
        for i, guard in enumerate(self.records):
            parent = guard.parent
            if parent < 0:
                self.then_owner.append(-1)
            elif _in(self.records[parent].then, self.spans[i][0]):
                self.then_owner.append(parent)
            else:
                self.then_owner.append(self.then_owner[parent])

    def innermost(self, offsets: list[int]) -> list[int]:
        return innermost(self.spans, offsets)

    def exits(self, kind: str, jumps: list[ts.Node]) -> list[Exit | None]:
        """Each jump with its guard, the innermost if whose then-branch holds it."""
        out: list[Exit | None] = []
        for jump, guard in zip(jumps, self.innermost([j.start_byte for j in jumps]), strict=True):
            if guard >= 0 and not _in(self.records[guard].then, jump.start_byte):
                guard = self.then_owner[guard]
            out.append(self._exit(kind, guard) if guard >= 0 else None)
        return out

    def _exit(self, kind: str, guard: int) -> Exit:
        cond = self.conds[guard]
        cond_text = self.text.flat(cond)
        lo = bisect.bisect_left(self.call_bytes, cond.start_byte)
        hi = bisect.bisect_left(self.call_bytes, cond.end_byte)
        return Exit(
            kind,
            cond_text,
            tuple(c.name for c in self.calls[lo:hi]),
            frozenset(IDENT.findall(cond_text)),
            cond.start_byte,
            cond.start_point[0] + 1,
        )

    def names(self, src: bytes) -> tuple[tuple[int, str], ...]:
        """(byte, name) of the identifiers in the conditions, each read once where
        conditions nest."""
        out: list[tuple[int, str]] = []
        end = -1
        for start, stop in sorted(guard.cond for guard in self.records):
            start = max(start, end)
            if start < stop:
                found = _GUARD_NAME.finditer(src, start, stop)
                out += ((m.start(), m.group().decode()) for m in found)
            end = max(end, stop)
        return tuple(out)


def _range(node: ts.Node) -> tuple[int, int]:
    return node.start_byte, node.end_byte


def _in(span: tuple[int, int], byte: int) -> bool:
    return span[0] <= byte < span[1]


def _add_exits(captures: dict[str, list[ts.Node]], bodies: _Bodies, guards: _Guards) -> None:
    """A continue or break belongs to its innermost loop, when that one is detailed and
    holds its guard; a return or goto to its innermost detailed loop, where it counts
    for that loop and every loop around it that holds its guard."""
    for rank, kind in enumerate(_JUMPS):
        jumps = captures.get(kind, [])
        offsets = [j.start_byte for j in jumps]
        loops = bodies.innermost(offsets) if kind in ("continue", "break") else None
        found = zip(jumps, guards.exits(kind, jumps), bodies.holders(offsets), strict=True)
        for i, (jump, exit_, held) in enumerate(found):
            if exit_ is None:
                continue
            if loops is not None:  # its own loop, if detailed, holding the guard
                own = bodies.own[loops[i]] if loops[i] >= 0 else None
                if own is None or exit_.byte < bodies.spans[loops[i]][0]:
                    continue
                held = own
            held.exits.append((exit_.byte, rank, jump.start_byte, exit_))


def _add_steps(
    text: Text, captures: dict[str, list[ts.Node]], sites: list[LoopSite], bodies: _Bodies
) -> None:
    """Steps in a loop's header (the for-update clause, a while or do condition), and
    statements of its body outside its nested loops (`i++, pfn++` in a nested for's
    update is both)."""
    statements = {node.id for node in captures.get("statement", [])}
    statements.update(part.id for part in _comma_parts(captures.get("comma", [])))
    nodes = captures.get("update", []) + captures.get("assign", [])
    offsets = [n.start_byte for n in nodes]
    spans = [(s.loop.span.start_byte, s.loop.span.end_byte) for s in sites]
    for node, header, loop in zip(
        nodes, innermost(spans, offsets), bodies.innermost(offsets), strict=True
    ):
        own = bodies.own[header] if header >= 0 else None
        if own is not None and _in_header(sites[header], node.start_byte):
            _add_step(own, text, node, in_update=True)
        own = bodies.own[loop] if loop >= 0 else None
        if own is not None and node.id in statements:
            _add_step(own, text, node, in_update=False)


def _comma_parts(commas: list[ts.Node]) -> Iterator[ts.Node]:
    """The updates and assignments that are a comma expression's parts (`i++, pfn++`)."""
    for comma in commas:
        for side in ("left", "right"):
            part = comma.child_by_field_name(side)
            if part is not None and part.type in ("update_expression", "assignment_expression"):
                yield part


def _add_step(own: _Own, text: Text, node: ts.Node, in_update: bool) -> None:
    step = _step(text, node, in_update)
    if step is not None:
        own.steps.append((node.start_byte, step))


def _in_header(site: LoopSite, byte: int) -> bool:
    """In the for-update clause, or in a while/do condition (`while (++pfn < end)`)."""
    if site.update is not None:
        return _in(site.update, byte)
    return site.loop.kind in ("while", "do") and not site.loop.body.contains(byte)


def _assign(text: Text, node: ts.Node) -> Assign | None:
    if node.type == "init_declarator":
        left, call = node.child_by_field_name("declarator"), node.child_by_field_name("value")
    else:
        left, call = node.child_by_field_name("left"), node.child_by_field_name("right")
        op = node.child_by_field_name("operator")
        if call is None or call.type != "call_expression" or (op and text.of(op) != "="):
            return None
    fn = call.child_by_field_name("function") if call is not None else None
    if left is None or fn is None or fn.type != "identifier":
        return None
    return Assign(declared_name(text.of(left)) or text.flat(left), text.of(fn), node.start_byte)


def _indexes(text: Text, captures: dict[str, list[ts.Node]]) -> Iterable[Index]:
    for node in captures.get("plus", []):
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        if left is not None and right is not None and left.type == "identifier":
            yield _index(text, node, left, right)
    for node in captures.get("subscript", []):
        base = node.child_by_field_name("argument")
        index = node.child_by_field_name("index")
        if base is not None and index is not None and base.type == "identifier":
            yield _index(text, node, base, index)


def _index(text: Text, node: ts.Node, base: ts.Node, offset: ts.Node) -> Index:
    row, col = node.start_point
    return Index(text.of(base), text.flat(offset), row + 1, col + 1, node.start_byte)


def _step(text: Text, node: ts.Node, in_update: bool) -> Step | None:
    if node.type == "update_expression":
        arg = node.child_by_field_name("argument")
        op = node.child_by_field_name("operator")
        if arg is None or op is None:
            return None
        return Step(text.flat(arg), text.of(op), "1", in_update)
    left = node.child_by_field_name("left")
    right = node.child_by_field_name("right")
    op = node.child_by_field_name("operator")
    if left is None or right is None or op is None:
        return None
    var, op_text, amount = text.flat(left), text.of(op), text.flat(right)
    if op_text in ("+=", "-="):
        return Step(var, op_text, amount, in_update)
    if op_text == "=" and mentions(amount, var):
        return Step(var, op_text, amount, in_update)  # pfn = ALIGN(pfn + 1, ...)
    return None
