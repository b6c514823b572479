"""One function-level call graph of the scanned code (callers -> callees), in networkx.

Nodes are function and macro names.  A `static` function defined in a .c file is its
own node, "path:name", so two files' static helpers of the same name never merge and
a call inside a file reaches that file's static first.  Everything else, header
static inlines included (every includer gets the same body), is keyed by its bare
name; a global name defined in several files (per-arch implementations, config
alternatives) is one node that lists every definition in its "files" attribute.

Function-like macros are nodes too, with an edge to every name their body calls.
That resolves the kernel's aliasing macros without a list of them:
`#define alloc_contig_range(...) alloc_hooks(alloc_contig_range_noprof(__VA_ARGS__))`
gives alloc_contig_range -> alloc_hooks and alloc_contig_range -> alloc_contig_range_noprof,
so callers of the macro are callers of the _noprof function.  When the header holding
such a macro is not scanned, a defined `foo_noprof` still gets the edge `foo` ->
`foo_noprof` (memory allocation profiling's naming convention).

Out of scope: calls through function pointers (ops tables, callbacks), calls whose
callee is not an identifier, and anything the preprocessor decides (#ifdef branches
are all taken).  Only the first call site of each edge is kept, (path, line), for call
chains.  The graph grows in place as prefilter rounds add files, and does not depend on
the order they come in.

Whole tree: rules and hotspots see the graph of the scanned paths, plus, with
`--graph-scope tree`, the files of the rest of the tree that can call into the
contiguous-range APIs.  Those are found by a byte-level prefilter (`graph_files`): read
every .c/.h once per round, keep the files that mention a wanted name, parse only those,
add the functions in them that call a wanted name, and repeat for WRAPPER_ROUNDS
rounds.  Reading 1.2 GB of 6.12 sources costs seconds, so this is opt-in until the
fact cache (the performance issue) makes it free.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable, Iterable
from functools import cached_property
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypedDict, cast

from kscan.facts.records import Call, FileFacts

if TYPE_CHECKING:
    import networkx as nx

_CALLED_IN_MACRO = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_NOT_CALLS = frozenset(
    {
        "if",
        "for",
        "while",
        "switch",
        "return",
        "sizeof",
        "typeof",
        "__typeof__",
        "do",
        "defined",
        "__builtin_constant_p",
    }
)
_SKIP_DIRS = frozenset({"Documentation", "tools", "scripts", "samples", "LICENSES", ".git"})
WRAPPER_ROUNDS = 2
_NAME = attrgetter("name")  # of a Call


class NodeAttrs(TypedDict, total=False):
    kind: str  # "function" | "macro" | "external"
    files: tuple[str, ...]  # where it is defined
    line: int  # of the definition in the first of those files
    score: float  # set on a hotspot in an exported subgraph


class Site(NamedTuple):
    path: str
    line: int


class CallGraph:
    """Callers -> callees as plain adjacency sets, plus name resolution.

    Rules only walk callers a few levels deep, so the graph is kept as dicts (cheap to
    build on every scan, and grown in place when a prefilter round adds files); `graph`
    builds the networkx view on first use, for the centrality and export work of
    `kscan hotspots` / `kscan graph`.  An edge's call site is looked up when asked for
    (`site`): a report names a few dozen of mm/'s 21,000 edges.
    Node attributes: kind ("function" | "macro" | "external"), files, line.
    """

    def __init__(self) -> None:
        self.attrs: dict[str, NodeAttrs] = {}
        self.succ: dict[str, set[str]] = {}
        self.pred: dict[str, set[str]] = {}
        # node -> (path, calls, statics of the file) of each of its definitions
        self._bodies: dict[str, list[tuple[str, tuple[Call, ...], dict[str, str]]]] = {}
        self._sites: dict[str, dict[str, tuple[str, int]]] = {}  # node -> callee -> site
        self._aliases: dict[tuple[str, str], tuple[str, int]] = {}  # see _link_noprof
        self._noprof: set[str] = set()  # global functions named foo_noprof
        self._statics: dict[str, set[str]] = {}  # name -> its "path:name" nodes

    def add(self, files: Iterable[FileFacts]) -> CallGraph:
        """Add the functions, macros and calls of more files."""
        self._unlink_noprof()  # a new file may define or call what an alias stood for
        for facts in files:
            self._add_file(facts)
        self._link_noprof()
        self._sites.clear()
        self.__dict__.pop("graph", None)
        return self

    def _add_file(self, facts: FileFacts) -> None:
        path = facts.path
        statics = {fn.name for fn in facts.functions if fn.static} if path.endswith(".c") else ()
        local = {name: f"{path}:{name}" for name in statics}
        for fn in facts.functions:
            node = local.get(fn.name, fn.name)
            self._define(node, "function", path, fn.span.start_line)
            self._add_calls(node, path, fn.calls, local)
        for define in facts.defines:
            if define.params is None:
                continue
            node = local.get(define.name, define.name)
            self._define(node, "macro", path, define.line)
            # a macro's body calls each name once, at the #define
            calls = tuple(
                Call(callee, "", define.line, 0, 0)
                for callee in sorted(_macro_calls(define.value, define.name))
            )
            self._add_calls(node, path, calls, local)

    def _add_calls(
        self, node: str, path: str, calls: tuple[Call, ...], local: dict[str, str]
    ) -> None:
        """Link node to what it calls.  The callees are collected by set, map and dict
        calls, not a Python loop per call: mm/ has 21,000 edges."""
        if not calls:
            return
        self._bodies.setdefault(node, []).append((path, calls, local))
        names = list(map(_NAME, calls))
        # local.get(name, name) is a str: the cast says what map() hides from mypy
        callees = cast("set[str]", set(map(local.get, names, names))) if local else set(names)
        callees.discard(node)  # recursion: a site, not a link
        if not callees:
            return
        self.succ.setdefault(node, set()).update(callees)
        pred, attrs = self.pred, self.attrs
        for callee in callees:
            callers = pred.get(callee)
            if callers is None:
                pred[callee] = {node}
                attrs.setdefault(callee, {"kind": "external", "files": (), "line": 0})
            else:
                callers.add(node)

    def _define(self, node: str, kind: str, path: str, line: int) -> None:
        attrs = self.attrs.get(node)
        if ":" in node:
            self._statics.setdefault(display(node), set()).add(node)
        if kind == "function" and node.endswith("_noprof") and ":" not in node:
            self._noprof.add(node)
        if attrs is None or attrs["kind"] == "external":
            self.attrs[node] = {"kind": kind, "files": (path,), "line": line}
        elif path not in attrs["files"]:
            # a name clash: keep the function over a same-named macro, remember every
            # file, and the first file's line (the graph must not depend on file order)
            attrs["files"] = tuple(sorted((*attrs["files"], path)))
            if path == attrs["files"][0]:
                attrs["line"] = line
            if kind == "function":
                attrs["kind"] = kind

    def _unlink_noprof(self) -> None:
        for base, node in self._aliases:
            for index, key, other in ((self.succ, base, node), (self.pred, node, base)):
                index[key].discard(other)
                if not index[key]:
                    del index[key]
        self._aliases.clear()

    def _link_noprof(self) -> None:
        """Memory allocation profiling's convention, for when the header with the macro
        is not scanned: `foo` is a macro over `foo_noprof`, so `foo` -> `foo_noprof`.
        Recomputed as files come in: a later file may define `foo` itself."""
        for node in sorted(self._noprof):
            base = node.removesuffix("_noprof")
            if self.kind(base) == "external" and node not in self.succ.get(base, ()):
                attrs = self.attrs[node]
                self._aliases[base, node] = (attrs["files"][0], attrs["line"])
                self.succ.setdefault(base, set()).add(node)
                self.pred.setdefault(node, set()).add(base)
                self.attrs.setdefault(base, {"kind": "external", "files": (), "line": 0})

    def _first_sites(self, node: str) -> dict[str, tuple[str, int]]:
        """callee -> the first site node calls it from (the least (path, line): the
        graph must not depend on the order files came in)."""
        found = self._sites.get(node)
        if found is None:
            found = {}
            for path, calls, local in self._bodies.get(node, ()):
                for call in calls:
                    callee = local.get(call.name, call.name)
                    site = (path, call.line)
                    known = found.get(callee)
                    if known is None or site < known:
                        found[callee] = site
            found.update(
                (callee, site) for (caller, callee), site in self._aliases.items() if caller == node
            )
            self._sites[node] = found
        return found

    @property
    def sites(self) -> dict[tuple[str, str], tuple[str, int]]:
        """(caller, callee) -> first call site, for every edge (recursive calls included)."""
        return {
            (node, callee): site
            for node in sorted({*self._bodies, *(caller for caller, _ in self._aliases)})
            for callee, site in self._first_sites(node).items()
        }

    @cached_property
    def graph(self) -> nx.DiGraph[str]:
        import networkx as nx  # only hotspots and exports need it: keep scans light

        graph: nx.DiGraph[str] = nx.DiGraph()
        graph.add_nodes_from((node, dict(attrs)) for node, attrs in self.attrs.items())
        graph.add_edges_from((a, b) for a, callees in self.succ.items() for b in callees)
        return graph

    def __contains__(self, node: str) -> bool:
        return node in self.attrs

    def resolve(self, path: str, name: str) -> str:
        """The node a call to `name` from file `path` reaches."""
        local = f"{path}:{name}"
        return local if local in self.attrs else name

    def nodes_named(self, name: str) -> list[str]:
        """The global node and every file's static of that name."""
        statics = self._statics.get(name, set())
        return sorted(statics | {name} if name in self else statics)

    def callers(self, node: str, depth: int | None = None) -> dict[str, int]:
        """Transitive callers of node, with their distance (1 = direct)."""
        return _bfs(self.pred, node, depth) if node in self.attrs else {}

    def callees(self, node: str, depth: int | None = None) -> dict[str, int]:
        return _bfs(self.succ, node, depth) if node in self.attrs else {}

    def chain(self, caller: str, callee: str) -> list[str]:
        """A shortest call chain caller -> ... -> callee (both included)."""
        parents = {caller: caller}
        queue = deque([caller])
        while queue:
            node = queue.popleft()
            if node == callee:
                path = [node]
                while path[-1] != caller:
                    path.append(parents[path[-1]])
                return path[::-1]
            for nxt in sorted(self.succ.get(node, ())):
                if nxt not in parents:
                    parents[nxt] = node
                    queue.append(nxt)
        return []

    def site(self, caller: str, callee: str) -> Site | None:
        found = self._first_sites(caller).get(callee)
        return Site(*found) if found else None

    def kind(self, node: str) -> str:
        return self.attrs.get(node, NodeAttrs()).get("kind", "external")

    def is_function(self, node: str) -> bool:
        return self.kind(node) == "function"


def display(node: str) -> str:
    """`mm/cma.c:foo` -> `foo` (the bare name, for messages)."""
    return node.rsplit(":", 1)[-1]


def build(files: Iterable[FileFacts]) -> CallGraph:
    return CallGraph().add(files)


def _macro_calls(value: str, name: str) -> set[str]:
    return {c for c in _CALLED_IN_MACRO.findall(value) if c not in _NOT_CALLS and c != name}


def _bfs(neighbours: dict[str, set[str]], start: str, depth: int | None) -> dict[str, int]:
    seen = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if depth is not None and seen[node] >= depth:
            continue
        for other in sorted(neighbours.get(node, ())):
            if other not in seen:
                seen[other] = seen[node] + 1
                queue.append(other)
    seen.pop(start)
    return seen


# -- whole-tree prefilter ------------------------------------------------------------


def tree_sources(root: Path, skip: set[str]) -> list[tuple[str, str]]:
    """(path, rel) of every .c/.h under root that is not in `skip` (rels)."""
    out = []
    for top, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        rel_top = os.path.relpath(top, root)
        for name in names:
            if name.endswith((".c", ".h")):
                rel = name if rel_top == "." else f"{rel_top}/{name}"
                if rel not in skip:
                    out.append((os.path.join(top, name), rel))
    return out


def graph_files(
    candidates: list[tuple[str, str]],
    seeds: set[str],
    parse: Callable[[list[tuple[str, str]]], list[FileFacts]],
    rounds: int = WRAPPER_ROUNDS,
) -> list[FileFacts]:
    """Facts of the candidate files that mention a seed or (iterating) a wrapper of one."""
    wanted = set(seeds)
    pending = list(candidates)
    parsed: list[FileFacts] = []
    for _ in range(rounds):
        names = [n.encode() for n in wanted]
        hits, pending = _split(pending, names)
        if not hits:
            break
        new = parse(hits)
        parsed += new
        callers = _callers_of(new, wanted) - wanted
        if not callers:
            break
        wanted |= callers
    return parsed


def _split(
    pending: list[tuple[str, str]], names: list[bytes]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    hits: list[tuple[str, str]] = []
    rest: list[tuple[str, str]] = []
    for item in pending:
        try:
            with open(item[0], "rb") as f:
                data = f.read()
        except OSError:
            continue
        (hits if any(n in data for n in names) else rest).append(item)
    return hits, rest


def _callers_of(files: list[FileFacts], wanted: set[str]) -> set[str]:
    """Functions and macros in `files` that call a wanted name directly: one wrapper level
    per round, so a generic wrapper cannot pull in half the tree at once."""
    graph = build(files).graph
    return {display(c) for name in wanted if name in graph for c in graph.predecessors(name)}
