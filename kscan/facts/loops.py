"""Loops: for/while/do, and iterator macros in the shapes tree-sitter-c gives them.

Every loop gets its kind, span, condition and the calls of its condition.  Loops that
can matter (their text mentions pfn, page or folio) also get their body facts from a
richer query run over the loop alone: guards, guarded exits, steps, assignments from
calls, and pointer arithmetic.  Iterator macros come out of tree-sitter-c in several
shapes; each is mapped back to a Loop of kind "macro" (see macro_loops).
"""

from __future__ import annotations

import bisect
import re

import tree_sitter as ts

from kscan.facts.calls import callee_end
from kscan.facts.functions import FunctionFinder
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
from kscan.facts.source import IDENT, Text, declared_name, query, root_for
from kscan.parse.parser import ParsedFile

_LOOP_PREFILTER = re.compile(rb"pfn|page|folio")
_LOOP_MACRO = re.compile(r"for_each")

_LOOP_QUERY = """
    (if_statement) @if
    (conditional_expression) @ternary
    (continue_statement) @continue
    (break_statement) @break
    (return_statement) @return
    (goto_statement) @goto
    (update_expression) @update
    (assignment_expression) @assign
    (init_declarator value: (call_expression)) @init_call
    (binary_expression operator: "+") @plus
    (subscript_expression) @subscript
    """


_Branch = tuple[ts.Node, ts.Node, ts.Node | None]  # condition, then, else
_LOOP_KINDS = {"for_statement": "for", "while_statement": "while", "do_statement": "do"}


def plain_loop(text: Text, node: ts.Node) -> Loop:
    kind = _LOOP_KINDS[node.type]
    body = node.child_by_field_name("body") or node
    cond = node.child_by_field_name("condition")
    init = node.child_by_field_name("initializer")
    return Loop(
        kind=kind,
        function=None,
        span=text.span(node),
        body=text.span(body),
        cond=text.flat(cond) if cond is not None else "",
        init=text.flat(init) if init is not None else "",
    )


def macro_loops(
    text: Text, captures: dict[str, list[ts.Node]], fake_fns: list[ts.Node]
) -> list[Loop]:
    """Iterator-macro loops in the shapes tree-sitter-c gives them.

    - `m(a, b) { ... }` / `m(a, b)\\n stmt;`: a call statement with a MISSING `;`, whose
      body is the next sibling statement;
    - `m(a)\\n x += f(a);`: the body fused into an assignment whose left side is the call;
    - `m(a) { ... }` (one argument): a fake function definition named by the macro.
    A fourth shape, `m(a)\\n f(a);`, parses as a declaration whose body call became a
    declarator: nothing in it is a call or an access, so it is not recovered.
    """
    loops = []
    for call in captures.get("call", ()):
        name_end = callee_end(call)
        if text.src.find(b"for_each", call.start_byte, name_end) < 0:
            continue
        name = text.src[call.start_byte : name_end].decode()
        body = _macro_call_body(call)
        if body is not None:
            loops.append(_macro_loop(text, name, call, call.child_by_field_name("arguments"), body))
    for fn in fake_fns:
        kind = fn.child_by_field_name("type")
        name = text.of(kind) if kind is not None else ""
        body = fn.child_by_field_name("body")
        if _LOOP_MACRO.search(name) and body is not None:
            loops.append(_macro_loop(text, name, fn, fn.child_by_field_name("declarator"), body))
    return loops


def _macro_call_body(call: ts.Node) -> ts.Node | None:
    parent = call.parent
    if parent is None:
        return None
    if parent.type == "expression_statement":
        last = parent.child(parent.child_count - 1)
        if last is None or not last.is_missing:
            return None  # a real `;`: a call, not a loop head
        return parent.next_named_sibling
    if parent.type == "assignment_expression" and parent.child_by_field_name("left") == call:
        return parent.child_by_field_name("right")
    return None


def _macro_loop(
    text: Text, name: str, head: ts.Node, args: ts.Node | None, body: ts.Node
) -> Loop:
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


def detail_loops(
    parsed: ParsedFile, text: Text, loops: list[Loop], calls: list[Call], finder: FunctionFinder
) -> list[Loop]:
    call_starts = [c.byte for c in calls]
    loop_starts = [lp.span.start_byte for lp in loops]  # loops are sorted by start
    out = []
    for loop in loops:
        function = finder.name_at(loop.span.start_byte)
        in_loop = calls[
            bisect.bisect_left(call_starts, loop.span.start_byte) : bisect.bisect_left(
                call_starts, loop.span.end_byte
            )
        ]
        cond_calls = tuple(c.name for c in in_loop if c.byte < loop.body.start_byte)
        base = loop._replace(function=function, cond_calls=cond_calls)
        if _LOOP_PREFILTER.search(parsed.src, loop.span.start_byte, loop.span.end_byte):
            # only loops starting in this body can nest in it: a slice, not all (O(loops^2))
            inner = loops[
                bisect.bisect_left(loop_starts, loop.body.start_byte) : bisect.bisect_left(
                    loop_starts, loop.body.end_byte
                )
            ]
            base = _LoopDetail(parsed, text, base, in_loop, inner).build()
        out.append(base)
    return out


class _LoopDetail:
    """Body facts for one loop: guards, exits, steps, assignments, pointer arithmetic."""

    def __init__(
        self, parsed: ParsedFile, text: Text, loop: Loop, calls: list[Call], loops: list[Loop]
    ) -> None:
        self.text = text
        self.loop = loop
        self.calls = calls
        self.call_bytes = [c.byte for c in calls]  # sorted, as calls are
        self.nested = [
            lp.body
            for lp in loops
            if loop.body.start_byte <= lp.span.start_byte and lp.span.end_byte <= loop.body.end_byte
        ]
        root = root_for(parsed, loop.span.start_byte)
        cursor = ts.QueryCursor(query(_LOOP_QUERY))
        cursor.set_byte_range(loop.span.start_byte, loop.span.end_byte)
        self.captures = cursor.captures(root)

    def build(self) -> Loop:
        branches = self._branches()
        body_calls = [c for c in self.calls if self.loop.body.contains(c.byte)]
        return self.loop._replace(
            steps=self._steps(),
            calls=tuple(LoopCall(c, self._guards(c.byte, branches)) for c in body_calls),
            exits=self._exits(branches),
            assigns=self._assigns(),
            indexes=self._indexes(),
            detailed=True,
        )

    def _in_nested(self, byte: int) -> bool:
        return any(b.contains(byte) for b in self.nested)

    def _calls_in(self, start: int, end: int) -> tuple[str, ...]:
        # bisect: a scan per guard made deeply nested ifs cost O(calls^3)
        lo = bisect.bisect_left(self.call_bytes, start)
        hi = bisect.bisect_left(self.call_bytes, end)
        return tuple(c.name for c in self.calls[lo:hi])

    def _branches(self) -> list[_Branch]:
        """(condition, then, else) of every if / ?: inside the body."""
        out = []
        for node in self.captures.get("if", []) + self.captures.get("ternary", []):
            if not self.loop.body.contains(node.start_byte):
                continue
            cond = node.child_by_field_name("condition")
            then = node.child_by_field_name("consequence")
            other = node.child_by_field_name("alternative")
            if cond is not None and then is not None:
                out.append((cond, then, other))
        out.sort(key=lambda b: b[0].start_byte)
        return out

    def _guards(self, byte: int, branches: list[_Branch]) -> tuple[Guard, ...]:
        guards = []
        for cond, then, other in branches:
            if cond.start_byte <= byte < cond.end_byte:
                # short-circuit: conjuncts left of the call hold when it runs
                prefix = self.text.src[cond.start_byte : byte].decode("utf-8", "replace")
                guards.append(
                    Guard(" ".join(prefix.split()), self._calls_in(cond.start_byte, byte), False)
                )
            elif then.start_byte <= byte < then.end_byte:
                guards.append(self._guard(cond, negated=False))
            elif other is not None and other.start_byte <= byte < other.end_byte:
                guards.append(self._guard(cond, negated=True))
        return tuple(guards)

    def _guard(self, cond: ts.Node, negated: bool) -> Guard:
        return Guard(self.text.flat(cond), self._calls_in(cond.start_byte, cond.end_byte), negated)

    def _exits(self, branches: list[_Branch]) -> tuple[Exit, ...]:
        exits = []
        for kind in ("continue", "break", "return", "goto"):
            for jump in self.captures.get(kind, []):
                byte = jump.start_byte
                if not self.loop.body.contains(byte):
                    continue
                if kind in ("continue", "break") and self._in_nested(byte):
                    continue  # belongs to the inner loop
                owner = _innermost_then(branches, byte)
                if owner is None:
                    continue
                cond_text = self.text.flat(owner)
                exits.append(
                    Exit(
                        kind,
                        cond_text,
                        self._calls_in(owner.start_byte, owner.end_byte),
                        frozenset(IDENT.findall(cond_text)),
                        owner.start_byte,
                        owner.start_point[0] + 1,
                    )
                )
        exits.sort(key=lambda e: e.byte)
        return tuple(exits)

    def _steps(self) -> tuple[Step, ...]:
        update = self._update_clause()
        steps = []
        for node in self.captures.get("update", []) + self.captures.get("assign", []):
            in_update = self._in_header(node.start_byte, update)
            if not in_update and not self._is_body_statement(node):
                continue
            step = _step(self.text, node, in_update)
            if step is not None:
                steps.append((node.start_byte, step))
        return tuple(s for _, s in sorted(steps, key=lambda p: p[0]))

    def _in_header(self, byte: int, update: ts.Node | None) -> bool:
        """In the for-update clause, or in a while/do condition (`while (++pfn < end)`)."""
        if update is not None:
            return update.start_byte <= byte < update.end_byte
        return self.loop.kind in ("while", "do") and not self.loop.body.contains(byte)

    def _update_clause(self) -> ts.Node | None:
        if self.loop.kind != "for":
            return None
        node = self.captures.get("update", []) + self.captures.get("assign", [])
        for n in node:
            parent = n.parent
            while parent is not None and parent.type == "comma_expression":
                parent = parent.parent
            if (
                parent is not None
                and parent.type == "for_statement"
                and (parent.start_byte == self.loop.span.start_byte)
            ):
                field = parent.child_by_field_name("update")
                if field is not None:
                    return field
        return None

    def _is_body_statement(self, node: ts.Node) -> bool:
        if not self.loop.body.contains(node.start_byte) or self._in_nested(node.start_byte):
            return False
        parent = node.parent
        return parent is not None and parent.type in ("expression_statement", "comma_expression")

    def _assigns(self) -> tuple[Assign, ...]:
        out = []
        for node in self.captures.get("assign", []):
            right = node.child_by_field_name("right")
            op = node.child_by_field_name("operator")
            if right is None or right.type != "call_expression" or (op and self.text.of(op) != "="):
                continue
            out.append(self._assign(node.child_by_field_name("left"), right, node.start_byte))
        for node in self.captures.get("init_call", []):
            out.append(
                self._assign(
                    node.child_by_field_name("declarator"),
                    node.child_by_field_name("value"),
                    node.start_byte,
                )
            )
        return tuple(sorted((a for a in out if a), key=lambda a: a.byte))

    def _assign(self, left: ts.Node | None, call: ts.Node | None, byte: int) -> Assign | None:
        fn = call.child_by_field_name("function") if call is not None else None
        if left is None or fn is None or fn.type != "identifier":
            return None
        if not self.loop.body.contains(byte):
            return None
        return Assign(
            declared_name(self.text.of(left)) or self.text.flat(left), self.text.of(fn), byte
        )

    def _indexes(self) -> tuple[Index, ...]:
        out = []
        for node in self.captures.get("plus", []):
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            if left is not None and right is not None and left.type == "identifier":
                out.append(self._index(node, left, right))
        for node in self.captures.get("subscript", []):
            base = node.child_by_field_name("argument")
            index = node.child_by_field_name("index")
            if base is not None and index is not None and base.type == "identifier":
                out.append(self._index(node, base, index))
        return tuple(
            sorted((i for i in out if self.loop.body.contains(i.byte)), key=lambda i: i.byte)
        )

    def _index(self, node: ts.Node, base: ts.Node, offset: ts.Node) -> Index:
        row, col = node.start_point
        return Index(self.text.of(base), self.text.flat(offset), row + 1, col + 1, node.start_byte)


def _innermost_then(branches: list[_Branch], byte: int) -> ts.Node | None:
    owner = None
    for cond, then, _ in branches:
        if then.start_byte <= byte < then.end_byte:
            owner = cond  # branches are sorted by start, so the last match is innermost
    return owner


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
