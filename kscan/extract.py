"""Turn a parsed file into FileFacts.

Cost model: a Python-side walk over every node of mm/ costs more than parsing it, so
everything here is driven by tree-sitter queries (run in C) and byte-range arithmetic.
One query over the whole file finds functions, calls and loops; a second, richer query
runs only over loops that can matter (their text mentions pfn, page or folio) to
collect guards, exits, steps and pointer arithmetic.  #defines and #if branches come
from byte regexes, and the calls of kernel-style bodies from kscan/bodies.py (the
same whether the parser saw the body or skipped it).

Iterator macros come out of tree-sitter-c in several shapes; each is mapped back to a
Loop of kind "macro" (see _macro_loops).

An analysis other than the rules can ask for more (`Watch`, kscan what-if): the uses
and #defines of more names, #error directives, and struct page arithmetic anywhere in
a function.  A scan never pays for them.
"""

from __future__ import annotations

import bisect
import re
from functools import cache
from operator import itemgetter
from sys import intern
from typing import NamedTuple

import tree_sitter as ts

from kscan.bodies import calls_in
from kscan.facts import (
    Assign,
    Call,
    Define,
    ErrorDirective,
    Exit,
    FileFacts,
    Function,
    Guard,
    Index,
    Loop,
    LoopCall,
    NameUse,
    Offset,
    Span,
    Step,
    mentions,
)
from kscan.parse import LANGUAGE, ParsedFile
from kscan.vocab import ORDER_FAMILY


class Watch(NamedTuple):
    """What an analysis beyond the rules asks of the extractor (kscan what-if): the uses
    and object-like #defines of `names` (besides the MAX_ORDER family), the #error
    directives, struct page arithmetic in every function (FileFacts.offsets) and every
    function's locals (Function.pointer_types, values)."""

    names: tuple[str, ...]


def _names_re(names: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b")


_ORDER_NAME_RE = _names_re(ORDER_FAMILY)
# (name, offset of "ORDER" in it), longest first: found from each "ORDER" in the bytes
_ORDER_AT = sorted(((n.encode(), n.index("ORDER")) for n in ORDER_FAMILY), key=lambda t: -len(t[0]))
_LOOP_PREFILTER = re.compile(rb"pfn|page|folio")
_IDENT = re.compile(r"[A-Za-z_]\w*")
_LOOP_MACRO = re.compile(r"for_each")
_STATEMENT_END = ("_statement", "declaration", "init_declarator", "field_declaration")

# Every pattern costs a walk over the whole tree in C (~0.2 s for mm/), so this query
# holds only what needs the tree; #defines come from a byte regex, ERRORs from has_error.
_FILE_QUERY = """
    (function_definition) @function
    (call_expression function: (identifier) arguments: (argument_list)) @call
    [(for_statement) (while_statement) (do_statement)] @loop
    """
# Directives start with a literal `#`, which `re` finds at C speed (a `^` anchor with
# re.M tries every line); that only blanks precede it on its line is checked after.
_DEFINE = re.compile(rb"#[ \t]*define[ \t]+(\w+)(\([^)\n]*\))?((?:[^\n]*\\\n)*[^\n]*)")

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

_LOCALS_QUERY = """
    (declaration type: (struct_specifier name: (type_identifier) @struct)) @decl
    (parameter_declaration type: (struct_specifier name: (type_identifier) @struct)) @decl
    (init_declarator declarator: (_) @var value: (_) @value)
    (assignment_expression left: (identifier) @var operator: "=" right: (_) @value)
    """


@cache
def _query(source: str) -> ts.Query:
    """Compiled on first use: only workers parse, and a warm run parses nothing."""
    return ts.Query(LANGUAGE, source)


_BYTE = itemgetter(4)  # Call.byte, as a C-level sort key


class _Text:
    """Byte-offset helpers over one file's source."""

    def __init__(self, src: bytes):
        self.src = src

    def of(self, node: ts.Node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def flat(self, node: ts.Node) -> str:
        return " ".join(self.of(node).split())

    @staticmethod
    def span(node: ts.Node) -> Span:
        row, col = node.start_point
        return Span(row + 1, col + 1, node.end_point[0] + 1, node.start_byte, node.end_byte)


def extract(path: str, parsed: ParsedFile, watch: Watch | None = None) -> FileFacts:
    facts = FileFacts(path=path, lines=parsed.src.count(b"\n") + 1)
    facts.bodies_seen = parsed.src.count(b"\n{") + parsed.src.startswith(b"{")
    facts.recovered_regions = len(parsed.lost)
    text = _Text(parsed.src)
    captures = _capture_all(parsed)
    facts.has_errors = any(root.has_error for root in parsed.roots())

    heads, fake_fn_nodes = _heads(text, captures.get("function", ()))
    statics = {text.of(head.name) for head in heads if head.static}
    calls = _calls(text, captures.get("call", ()), parsed, statics)
    facts.functions = _functions(text, heads, calls)
    finder = _FunctionFinder(facts.functions)

    loops = [_plain_loop(text, n) for n in captures.get("loop", ())]
    loops += _macro_loops(text, captures, fake_fn_nodes)
    loops.sort(key=lambda lp: lp.span.start_byte)
    facts.loops = _detail_loops(parsed, text, loops, calls, finder)
    _add_local_facts(parsed, text, facts, every=watch is not None)

    named = _ORDER_NAME_RE if watch is None else _names_re((*ORDER_FAMILY, *watch.names))
    facts.defines = _defines(parsed.src, named)
    facts.branches = _branches(parsed.src)
    nodes = _order_name_nodes(parsed) if watch is None else _named_nodes(parsed, named)
    facts.name_uses = [_name_use(text, n, finder) for n in nodes]
    if watch is not None:
        facts.errors, facts.conditions = _directives(parsed.src)
        facts.offsets = _offsets(parsed, text, facts.functions, finder)
    return facts


def _capture_all(parsed: ParsedFile) -> dict[str, list[ts.Node]]:
    merged: dict[str, list[ts.Node]] = {}
    for i, root in enumerate(parsed.roots()):
        for name, nodes in ts.QueryCursor(_query(_FILE_QUERY)).captures(root).items():
            if i == 0 and parsed.lost:
                nodes = [n for n in nodes if not parsed.in_lost_region(n.start_byte)]
            merged.setdefault(name, []).extend(nodes)
    return merged


# -- functions -------------------------------------------------------------------------


def _function_declarator(node: ts.Node) -> ts.Node | None:
    """The function_declarator of a real definition; None for macro-shaped fakes."""
    decl = node.child_by_field_name("declarator")
    while decl is not None and decl.type in ("pointer_declarator", "attributed_declarator"):
        decl = decl.child_by_field_name("declarator")
    if decl is None or decl.type != "function_declarator":
        return None
    name = decl.child_by_field_name("declarator")
    return decl if name is not None and name.type == "identifier" else None


class _Head(NamedTuple):
    """A function definition up to its parameters."""

    node: ts.Node
    decl: ts.Node  # its function_declarator
    name: ts.Node
    static: bool
    inline: bool


def _heads(text: _Text, nodes: list[ts.Node]) -> tuple[list[_Head], list[ts.Node]]:
    """The real definitions' heads, in file order, and the macro-shaped fakes."""
    heads, fake = [], []
    for node in nodes:
        decl = _function_declarator(node)
        if decl is None:
            fake.append(node)
            continue
        name = decl.child_by_field_name("declarator")
        head = text.src[node.start_byte : name.start_byte]
        static, inline = _STATIC.search(head) is not None, _INLINE.search(head) is not None
        heads.append(_Head(node, decl, name, static, inline))
    heads.sort(key=lambda h: h.node.start_byte)
    return heads, fake


def _functions(text: _Text, heads: list[_Head], calls: list[Call]) -> list[Function]:
    nodes = [head.node for head in heads]
    return [
        _function(text, head, tuple(own))
        for head, own in zip(heads, _calls_by_function(nodes, calls), strict=True)
    ]


def _calls_by_function(nodes: list[ts.Node], calls: list[Call]) -> list[list[Call]]:
    """Each function's own calls: a slice of the sorted calls, unless a runaway recovery
    nested functions, when each call goes to the innermost one."""
    starts = [c.byte for c in calls]
    if all(a.end_byte <= b.start_byte for a, b in zip(nodes, nodes[1:], strict=False)):
        lo = [bisect.bisect_left(starts, n.start_byte) for n in nodes]
        hi = [bisect.bisect_left(starts, n.end_byte) for n in nodes]
        return [calls[a:b] for a, b in zip(lo, hi, strict=True)]
    own: list[list[Call]] = [[] for _ in nodes]
    for call, i in zip(calls, _innermost(nodes, starts), strict=True):
        if i is not None:
            own[i].append(call)
    return own


def _innermost(nodes: list[ts.Node], offsets: list[int]) -> list[int | None]:
    """For each sorted offset, the index of the innermost node holding it.  Nodes are
    sorted by start and nest (a runaway recovery can nest hundreds of real functions
    in one body): one sweep with a stack of the open ones."""
    out: list[int | None] = []
    stack: list[int] = []
    following = 0
    for offset in offsets:
        while following < len(nodes) and nodes[following].start_byte <= offset:
            _close_before(nodes, stack, nodes[following].start_byte)
            stack.append(following)
            following += 1
        _close_before(nodes, stack, offset)
        out.append(stack[-1] if stack else None)
    return out


def _close_before(nodes: list[ts.Node], stack: list[int], offset: int) -> None:
    """Drop the open nodes that end at or before offset."""
    while stack and nodes[stack[-1]].end_byte <= offset:
        stack.pop()


_STATIC = re.compile(rb"\bstatic\b")
_INLINE = re.compile(rb"\b(?:inline|__inline|__inline__|__always_inline)\b")


def _function(text: _Text, head: _Head, calls: tuple[Call, ...]) -> Function:
    node = head.node
    body = node.child_by_field_name("body") or node
    plist = head.decl.child_by_field_name("parameters")
    return Function(
        name=text.of(head.name),
        span=text.span(node),
        body=text.span(body),
        static=head.static,
        inline=head.inline,
        params_text=text.of(plist) if plist is not None else "()",
        calls=calls,
        **(
            _pfn_function_returns(text.src, body)
            if plist is not None and b"pfn" in text.src[plist.start_byte : plist.end_byte]
            else {}
        ),
    )


_RETURN_FAILURE = re.compile(rb"\breturn\s+(?:NULL|false)\s*;")
_RETURN_CALL = re.compile(rb"\breturn\s+!?\s*\(?\s*([A-Za-z_]\w*)\s*\(")


def _pfn_function_returns(src: bytes, body: ts.Node) -> dict:
    """How a function given a PFN reports an invalid one (validity helpers, see Project)."""
    start, end = body.start_byte, body.end_byte
    return {
        "returns_failure": _RETURN_FAILURE.search(src, start, end) is not None,
        "returns_calls": tuple(m.group(1).decode() for m in _RETURN_CALL.finditer(src, start, end)),
    }


def _declared_name(declarator: str) -> str:
    """`*page`, `pfns[]`, `*p = NULL` -> the declared identifier."""
    names = _IDENT.findall(declarator.split("=", 1)[0])
    return names[-1] if names else ""


class _FunctionFinder:
    """Innermost real function containing a byte (runaway recoveries nest them)."""

    def __init__(self, functions: list[Function]):
        self.functions = functions
        self.starts = [f.span.start_byte for f in functions]
        self.parents: list[int | None] = []  # the enclosing function of each
        stack: list[int] = []
        for i, fn in enumerate(functions):
            while stack and functions[stack[-1]].span.end_byte <= fn.span.start_byte:
                stack.pop()
            self.parents.append(stack[-1] if stack else None)
            stack.append(i)

    def index_at(self, byte: int) -> int | None:
        # the last function to start before byte, else the innermost that encloses it
        i: int | None = bisect.bisect_right(self.starts, byte) - 1
        while i is not None and i >= 0:
            if self.functions[i].span.contains(byte):
                return i
            i = self.parents[i]
        return None

    def name_at(self, byte: int) -> str | None:
        i = self.index_at(byte)
        return self.functions[i].name if i is not None else None


# -- calls and defines -------------------------------------------------------------------


_NAME_AT = re.compile(rb"[A-Za-z_$\x80-\xff][\w$\x80-\xff]*")


def _name_end(src: bytes, call: ts.Node) -> int:
    """End of a call's callee name: read from the bytes, or (for `$` or non-ASCII
    identifiers, which GNU C allows) from the tree."""
    match = _NAME_AT.match(src, call.start_byte)
    if match is not None:
        return match.end()
    return call.child_by_field_name("function").end_byte


def _calls(text: _Text, nodes: list[ts.Node], parsed: ParsedFile, statics: set[str]) -> list[Call]:
    """Calls in kernel-style bodies are read from the bytes (kscan/bodies.py), whether
    the parser saw the body or not, so skipping one never changes its calls (those in a
    skipped body keep their arguments only when they call one of this file's `statics`).
    Others come from the tree: a call node starts with its callee's name, read from the
    bytes too (node navigation such as next_sibling costs more than everything else
    here)."""
    src, bodies = text.src, parsed.bodies
    calls = []
    body_starts = [open_ for open_, _ in bodies]
    for node in nodes:
        start = node.start_byte
        i = bisect.bisect_left(body_starts, start) - 1
        if i >= 0 and start < bodies[i][1]:
            continue  # inside a body: read from the bytes below
        name_end = _name_end(src, node)
        row, col = node.start_point
        calls.append(
            Call(
                intern(src[start:name_end].decode("utf-8", "replace")),
                intern(src[name_end : node.end_byte].decode("utf-8", "replace").strip()),
                row + 1,
                col + 1,
                start,
            )
        )
    calls += calls_in(src, bodies, parsed.skipped, statics)
    calls.sort(key=_BYTE)
    return calls


def _order_name_nodes(parsed: ParsedFile) -> list[ts.Node]:
    """MAX_ORDER-family identifiers in code, found by byte search (few per file)."""
    nodes = []
    for start, end in _order_names(parsed.src):
        root = _root_for(parsed, start)
        node = root.named_descendant_for_byte_range(start, end)
        if node is not None and node.type == "identifier" and node.start_byte == start:
            nodes.append(node)
    return nodes


def _named_nodes(parsed: ParsedFile, named: re.Pattern[str]) -> list[ts.Node]:
    """Identifiers matching `named` in code (a Watch's names: few per file)."""
    nodes = []
    pattern = re.compile(named.pattern.encode())
    for match in pattern.finditer(parsed.src):
        start, end = match.span()
        node = _root_for(parsed, start).named_descendant_for_byte_range(start, end)
        if node is not None and node.type == "identifier" and node.start_byte == start:
            nodes.append(node)
    return nodes


def _order_names(src: bytes) -> list[tuple[int, int]]:
    """(start, end) of each whole MAX_ORDER-family identifier."""
    spans = []
    hit = src.find(b"ORDER")
    while hit >= 0:
        for name, offset in _ORDER_AT:
            start, end = hit - offset, hit - offset + len(name)
            if start >= 0 and src.startswith(name, start) and _whole_word(src, start, end):
                spans.append((start, end))
                break
        hit = src.find(b"ORDER", hit + 5)
    return spans


def _whole_word(src: bytes, start: int, end: int) -> bool:
    before = src[start - 1 : start]
    after = src[end : end + 1]
    return not (before.isalnum() or before == b"_" or after.isalnum() or after == b"_")


def _line_start(src: bytes, pos: int) -> int | None:
    """Where pos's line starts, if only blanks precede pos on it."""
    start = src.rfind(b"\n", 0, pos) + 1
    return start if not src[start:pos].strip() else None


_DIRECTIVE = re.compile(rb"#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b")


def _branches(src: bytes) -> tuple[tuple[int, int, int, int], ...]:
    """The branches of every #if ... #endif, nested ones included (unbalanced input is
    cut off where it stops making sense)."""
    if src.find(b"#") < 0:
        return ()
    out, stack, count = [], [], 0  # stack: [conditional id, branch number, branch start]
    for match in _DIRECTIVE.finditer(src):
        line_start = _line_start(src, match.start())
        if line_start is None:
            continue
        word = match.group(1)
        if word.startswith(b"if"):
            stack.append([count, 0, match.end()])
            count += 1
        elif stack:
            cond, number, start = stack[-1]
            out.append((cond, number, start, line_start))
            if word == b"endif":
                stack.pop()
            else:
                stack[-1] = [cond, number + 1, match.end()]
    return tuple(out)


def _defines(src: bytes, named: re.Pattern[str] = _ORDER_NAME_RE) -> list[Define]:
    """Function-like macros (aliases for the call graph) and object-like ones that name
    MAX_ORDER (or a watched name)."""
    defines = []
    if src.find(b"define") < 0:
        return defines
    line, counted = 1, 0
    for match in _DEFINE.finditer(src):
        line_start = _line_start(src, match.start())
        if line_start is None:
            continue
        name, params, value = (
            g.decode("utf-8", "replace") if g is not None else None for g in match.groups()
        )
        if params is None and not named.search(f"{name} {value}"):
            continue
        line += src.count(b"\n", counted, line_start)
        counted = line_start
        value = " ".join(value.replace("\\\n", " ").split())
        params_tuple = (
            tuple(p.strip() for p in params[1:-1].split(",") if p.strip()) if params else None
        )
        defines.append(Define(name, params_tuple, value, line))
    return defines


def _name_use(text: _Text, node: ts.Node, finder: _FunctionFinder) -> NameUse:
    parent = node.parent or node
    context = _context(node)
    row, col = node.start_point
    return NameUse(
        name=text.of(node),
        line=row + 1,
        col=col + 1,
        byte=node.start_byte,
        function=finder.name_at(node.start_byte),
        context=text.flat(context)[:300],
        parent=text.flat(parent)[:300],
        parent_kind=parent.type,
    )


def _context(node: ts.Node) -> ts.Node:
    """The smallest statement, condition or initialiser around a node."""
    current = node
    for _ in range(16):
        parent = current.parent
        if parent is None:
            break
        if parent.type in ("for_statement", "if_statement", "while_statement", "do_statement"):
            return current
        if parent.type.endswith(_STATEMENT_END) or parent.type.startswith("preproc"):
            return parent
        current = parent
    return current


# -- loops ---------------------------------------------------------------------------------


_LOOP_KINDS = {"for_statement": "for", "while_statement": "while", "do_statement": "do"}


def _plain_loop(text: _Text, node: ts.Node) -> Loop:
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


def _macro_loops(text: _Text, captures: dict, fake_fns: list[ts.Node]) -> list[Loop]:
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
        name_end = _name_end(text.src, call)
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


def _macro_loop(text: _Text, name: str, head: ts.Node, args: ts.Node | None, body: ts.Node):
    arg_nodes = [a for a in args.named_children if a.type != "comment"] if args else []
    start = _Text.span(head)
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


def _detail_loops(parsed, text, loops, calls, finder) -> list[Loop]:
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

    def __init__(self, parsed: ParsedFile, text: _Text, loop: Loop, calls: list[Call], loops):
        self.text = text
        self.loop = loop
        self.calls = calls
        self.call_bytes = [c.byte for c in calls]  # sorted, as calls are
        self.nested = [
            lp.body
            for lp in loops
            if loop.body.start_byte <= lp.span.start_byte and lp.span.end_byte <= loop.body.end_byte
        ]
        root = _root_for(parsed, loop.span.start_byte)
        cursor = ts.QueryCursor(_query(_LOOP_QUERY))
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

    def _branches(self) -> list[tuple[ts.Node, ts.Node, ts.Node | None]]:
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

    def _guards(self, byte: int, branches) -> tuple[Guard, ...]:
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

    def _exits(self, branches) -> tuple[Exit, ...]:
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
                        frozenset(_IDENT.findall(cond_text)),
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

    def _assign(self, left: ts.Node, call: ts.Node, byte: int) -> Assign | None:
        fn = call.child_by_field_name("function")
        if left is None or fn is None or fn.type != "identifier":
            return None
        if not self.loop.body.contains(byte):
            return None
        return Assign(
            _declared_name(self.text.of(left)) or self.text.flat(left), self.text.of(fn), byte
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


def _root_for(parsed: ParsedFile, byte: int) -> ts.Node:
    if parsed.in_lost_region(byte):
        for tree in parsed.chunks:
            ranges = tree.included_ranges
            if ranges and ranges[0].start_byte <= byte < ranges[0].end_byte:
                return tree.root_node
    return parsed.tree.root_node


def _innermost_then(branches, byte: int) -> ts.Node | None:
    owner = None
    for cond, then, _ in branches:
        if then.start_byte <= byte < then.end_byte:
            owner = cond  # branches are sorted by start, so the last match is innermost
    return owner


def _step(text: _Text, node: ts.Node, in_update: bool) -> Step | None:
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


# -- local variables ------------------------------------------------------------------------


def _add_local_facts(parsed: ParsedFile, text: _Text, facts: FileFacts, every: bool) -> None:
    """Struct-pointer types and assigned values, for functions that hold detailed loops
    (`every`: for all functions)."""
    wanted = {lp.function for lp in facts.loops if lp.detailed and lp.function}
    for i, fn in enumerate(facts.functions):
        if not every and fn.name not in wanted:
            continue
        cursor = ts.QueryCursor(_query(_LOCALS_QUERY))
        cursor.set_byte_range(fn.span.start_byte, fn.span.end_byte)
        pointers: dict[str, str] = {}
        values: list[tuple[str, str]] = []
        for _, caps in cursor.matches(_root_for(parsed, fn.span.start_byte)):
            if "struct" in caps:
                _record_pointers(text, caps, pointers)
            else:
                var = _declared_name(text.of(caps["var"][0]))
                values.append((var, text.flat(caps["value"][0])))
        facts.functions[i] = fn._replace(
            pointer_types=tuple(pointers.items()), values=tuple(values)
        )


def _record_pointers(text: _Text, caps, pointers: dict[str, str]) -> None:
    struct = text.of(caps["struct"][0])
    for declarator in caps["decl"][0].children_by_field_name("declarator"):
        decl_text = text.of(declarator).split("=", 1)[0]
        stars = decl_text.count("*") + decl_text.count("[")  # `*pages[]`: pointers, not pages
        if stars:
            pointers.setdefault(_declared_name(decl_text), struct + "*" * stars)


# -- what an analysis beyond the rules asks for (Watch) ------------------------------------

_OFFSET_QUERY = """
    (binary_expression left: (identifier) @base operator: ["+" "-"] @op right: (_) @offset)
    (subscript_expression argument: (identifier) @base index: (_) @offset)
    (assignment_expression left: (identifier) @base operator: ["+=" "-="] @op right: (_) @offset)
    (update_expression argument: (identifier) @base operator: _ @op)
    """


def _offsets(parsed: ParsedFile, text: _Text, functions, finder) -> tuple[Offset, ...]:
    """Arithmetic on each function's `struct page *` variables (Function.pointer_types)."""
    pages = [{v for v, kind in fn.pointer_types if kind == "page*"} for fn in functions]
    if not any(pages):
        return ()
    out = []
    for root in parsed.roots():
        for _, caps in ts.QueryCursor(_query(_OFFSET_QUERY)).matches(root):
            base = caps["base"][0]
            i = finder.index_at(base.start_byte)
            if i is None or text.of(base) not in pages[i]:
                continue
            op = text.of(caps["op"][0]) if "op" in caps else "[]"
            offset = text.flat(caps["offset"][0]) if "offset" in caps else "1"
            row, col = base.start_point
            out.append(
                Offset(
                    text.of(base), op, offset, functions[i].name, row + 1, col + 1, base.start_byte
                )
            )
    return tuple(sorted(set(out), key=lambda o: o.byte))


_CONDITIONAL = re.compile(
    rb"#[ \t]*(ifdef|ifndef|if|elif|else|endif|error)\b((?:[^\n]*\\\n)*[^\n]*)"
)
_C_COMMENT = re.compile(r"/\*.*?\*/|//.*")


def _directives(src: bytes) -> tuple[tuple, tuple]:
    """(#error directives, branch conditions): see ErrorDirective and
    FileFacts.conditions."""
    errors, conditions = [], []
    stack: list[list] = []  # per open #if: [its branches' conditions so far, first line]
    line, counted = 1, 0
    for match in _CONDITIONAL.finditer(src):
        if _line_start(src, match.start()) is None:
            continue
        line += src.count(b"\n", counted, match.start())
        counted = match.start()
        word = match.group(1).decode()
        rest = _C_COMMENT.sub(" ", match.group(2).decode("utf-8", "replace"))
        rest = " ".join(rest.replace("\\\n", " ").split())
        if word in ("if", "ifdef", "ifndef"):
            own = {"if": rest, "ifdef": f"defined({rest})", "ifndef": f"!defined({rest})"}
            stack.append([[own[word]], line])
        elif word in ("elif", "else", "endif") and stack:
            branches, first = stack[-1]
            conditions.append((first, line, _branch_condition(branches)))
            if word == "endif":
                stack.pop()
            else:
                branches.append(rest if word == "elif" else "")
                stack[-1][1] = line
        elif word == "error":
            cond = " && ".join(_branch_condition(b) for b, _ in stack)
            errors.append(ErrorDirective(cond, rest, line))
    return tuple(errors), tuple(conditions)


def _branch_condition(branches: list[str]) -> str:
    """The condition of the last branch: its own, and none of the earlier ones'."""
    *earlier, own = branches
    terms = [f"!({c})" for c in earlier] + ([f"({own})"] if own else [])
    return " && ".join(terms)
