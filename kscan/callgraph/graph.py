"""One function-level call graph of the scanned code (callers -> callees).

Nodes are function and macro names.  A `static` function defined in a .c file is its
own node, "path:name", so two files' static helpers of the same name never merge and
a call inside a file reaches that file's static first.  Everything else, header
static inlines included (every includer gets the same body), is keyed by its bare
name; a global name defined in several files (per-arch implementations, config
alternatives) is one node that lists every definition in its files.

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

The graph is read from FileFacts (a scan's files, for the rules) or FileCalls (every
file of `kscan hotspots`' scope: a whole tree is 733,000 nodes and 2.8 million edges).
Nodes are ints inside, edges lists of ints, and call sites are looked up in the files
when asked for: as sets of names or in networkx, a whole tree took 3 GB.

Whole tree: rules see the graph of the scanned paths, plus, with `--graph-scope tree`,
the files of the rest of the tree that can call into the contiguous-range APIs.
Those are found by a byte-level prefilter (`graph_files`): read every .c/.h once per
round, keep the files that mention a wanted name, parse only those, add the functions
in them that call a wanted name, and repeat for WRAPPER_ROUNDS rounds.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from kscan.facts.file_calls import call_sites, definitions
from kscan.facts.records import FileCalls, FileFacts

if TYPE_CHECKING:
    import networkx as nx

_SKIP_DIRS = frozenset({"Documentation", "tools", "scripts", "samples", "LICENSES", ".git"})
WRAPPER_ROUNDS = 2
EXTERNAL, FUNCTION, MACRO = range(3)  # node kinds
_KIND_NAMES = ("external", "function", "macro")
_KIND_OF = {"f": FUNCTION, "s": FUNCTION, "m": MACRO}  # FileCalls.kinds letters


_Adjacency = list[list[int] | tuple[()]]  # per node: its neighbours, () until it has one


class Site(NamedTuple):
    path: str
    line: int


class CallGraph:
    """Callers -> callees, with name resolution; nodes are named by str, held as ints.

    Per node id: its name, kind (EXTERNAL | FUNCTION | MACRO), the line of its first
    file's definition, its files, and its callees and callers as lists of ids.  Walks
    visit neighbours in name order, so that nothing depends on the order files came in.
    """

    def __init__(self, reread: Callable[[str], FileCalls | None] | None = None) -> None:
        """`reread`: path -> that file's FileCalls again, for call sites.  Given, the
        graph keeps no FileCalls (a whole tree's take 100 MB); FileFacts it keeps, as
        the scan holds them anyway."""
        self._reread = reread
        self._ids: dict[str, int] = {}
        self.names: list[str] = []
        self._kinds = bytearray()
        self._lines = array("I")
        self._files: list[tuple[str, ...]] = []
        self._succ: _Adjacency = []
        self._pred: _Adjacency = []
        self._one_file: dict[str, tuple[str]] = {}  # one `files` tuple per path, not per node
        self._sources: dict[str, FileFacts | FileCalls] = {}  # path -> file, for call sites
        self._sites: dict[int, dict[int, tuple[str, int]]] = {}  # node -> callee -> site
        self._file_calls: dict[str, dict[int, list[tuple[int, int]]]] = {}  # see _calls_in
        self._aliases: dict[tuple[int, int], tuple[str, int]] = {}  # see _link_noprof
        self._noprof: set[int] = set()  # global functions named foo_noprof
        # name -> its "path:name" node, or a tuple of them when several files have one
        self._statics: dict[str, int | tuple[int, ...]] = {}

    def add(self, files: Iterable[FileFacts | FileCalls]) -> CallGraph:
        """Add the functions, macros and calls of more files."""
        self._unlink_noprof()  # a new file may define or call what an alias stood for
        for file in files:
            self._add_file(file)
        self._link_noprof()
        self._sites.clear()
        self._file_calls.clear()
        return self

    def _add_file(self, file: FileFacts | FileCalls) -> None:
        path = file.path
        if self._reread is None or not isinstance(file, FileCalls):
            self._sources[path] = file
        local = _local_statics(file)
        for name, kind, line, callees in definitions(file):
            node = self._define(name, local.get(name, name), kind, path, line)
            self._link(node, callees, local)

    def _node(self, name: str) -> int:
        node = self._ids.get(name)
        if node is None:
            node = self._ids[name] = len(self.names)
            self.names.append(name)
            self._kinds.append(EXTERNAL)
            self._lines.append(0)
            self._files.append(())
            self._succ.append(())
            self._pred.append(())
        return node

    def _link(self, node: int, names: Iterable[str], local: dict[str, str]) -> None:
        """Link node to what it calls: the names are collected by set and map calls,
        not a Python loop per call (mm/ has 21,000 edges)."""
        wanted = set(names)
        if local:
            wanted = set(map(local.get, wanted, wanted))
        callees = set(map(self._node, wanted))
        callees.discard(node)  # recursion: a site, not a link
        known = self._succ[node]
        if known:
            callees.difference_update(known)  # another definition of a clashing name
            known.extend(callees)
        elif callees:
            self._succ[node] = list(callees)
        pred = self._pred
        for callee in callees:
            callers = pred[callee]
            if callers:
                callers.append(node)
            else:
                pred[callee] = [node]

    def _define(self, bare: str, name: str, kind: str, path: str, line: int) -> int:
        """Define node `name`, which is `bare` or a .c file's static "path:bare"."""
        node = self._node(name)
        files = self._files[node]
        if name != bare:
            if not files:  # a static's first definition
                known = self._statics.get(bare)
                self._statics[bare] = node if known is None else (*_several(known), node)
        elif kind != "m" and name.endswith("_noprof"):
            self._noprof.add(node)
        if not files:  # new, or known as a callee so far
            self._kinds[node] = _KIND_OF[kind]
            self._files[node] = self._one_file.setdefault(path, (path,))
            self._lines[node] = line
        elif path not in files:
            # a name clash: keep the function over a same-named macro, remember every
            # file, and the first file's line (the graph must not depend on file order)
            files = self._files[node] = tuple(sorted((*files, path)))
            if path == files[0]:
                self._lines[node] = line
            if kind != "m":
                self._kinds[node] = FUNCTION
        return node

    def _unlink_noprof(self) -> None:
        for base, node in self._aliases:
            for index, key, other in ((self._succ, base, node), (self._pred, node, base)):
                linked = index[key]
                if linked:  # it is: _link_noprof linked them
                    linked.remove(other)
        self._aliases.clear()

    def _link_noprof(self) -> None:
        """Memory allocation profiling's convention, for when the header with the macro
        is not scanned: `foo` is a macro over `foo_noprof`, so `foo` -> `foo_noprof`.
        Recomputed as files come in: a later file may define `foo` itself."""
        for node in sorted(self._noprof, key=self.names.__getitem__):
            base = self._node(self.names[node].removesuffix("_noprof"))
            if self._kinds[base] == EXTERNAL and node not in self._succ[base]:
                self._aliases[base, node] = (self._files[node][0], self._lines[node])
                for index, key, other in ((self._succ, base, node), (self._pred, node, base)):
                    linked = index[key]
                    if linked:
                        linked.append(other)
                    else:
                        index[key] = [other]

    def _first_sites(self, node: int) -> dict[int, tuple[str, int]]:
        """callee -> the first site node calls it from (the least (path, line): the
        graph must not depend on the order files came in)."""
        found = self._sites.get(node)
        if found is None:
            found = {}
            for path in self._files[node]:
                for callee, line in self._calls_in(path).get(node, ()):
                    site = (path, line)
                    known = found.get(callee)
                    if known is None or site < known:
                        found[callee] = site
            found.update(
                (callee, site) for (caller, callee), site in self._aliases.items() if caller == node
            )
            self._sites[node] = found
        return found

    def _calls_in(self, path: str) -> dict[int, list[tuple[int, int]]]:
        """node -> (callee, line) of its calls, for each definition in the file at path:
        read once per file, not once per node asked about (a file of n functions each
        in a finding's chain was read n times over)."""
        calls = self._file_calls.get(path)
        if calls is None:
            calls = self._file_calls[path] = {}
            file = self._source(path)
            if file is not None:  # else gone since
                local = _local_statics(file)
                ids = self._ids
                for name, sites in call_sites(file):
                    found = calls.setdefault(ids[local.get(name, name)], [])
                    found += ((ids[local.get(callee, callee)], line) for callee, line in sites)
        return calls

    def _source(self, path: str) -> FileFacts | FileCalls | None:
        """The file at path: kept, or read again (None if gone since)."""
        file = self._sources.get(path)
        if file is None and self._reread is not None:
            file = self._reread(path)
        return file

    def defining_files(self, caller: str, callee: str) -> tuple[str, ...]:
        """The files whose definition of caller calls callee: its one file, or those of
        a name defined in several (per architecture, per config) whose body does."""
        node, other = self._ids.get(caller), self._ids.get(callee)
        if node is None:
            return ()
        files = self._files[node]
        if len(files) < 2:
            return files
        return tuple(
            path
            for path in files
            if any(called == other for called, _ in self._calls_in(path).get(node, ()))
        )

    @property
    def sites(self) -> dict[tuple[str, str], tuple[str, int]]:
        """(caller, callee) -> first call site, for every edge (recursive calls included)."""
        names = self.names
        return {
            (names[node], names[callee]): site
            for node in range(len(names))
            for callee, site in self._first_sites(node).items()
        }

    def __contains__(self, node: str) -> bool:
        return node in self._ids

    def resolve(self, path: str, name: str) -> str:
        """The node a call to `name` from file `path` reaches."""
        local = f"{path}:{name}"
        return local if local in self._ids else name

    def nodes_named(self, name: str) -> list[str]:
        """The global node and every file's static of that name."""
        found = [self.names[node] for node in _several(self._statics.get(name, ()))]
        return sorted([*found, name] if name in self._ids else found)

    def callers(self, node: str, depth: int | None = None) -> dict[str, int]:
        """Transitive callers of node, with their distance (1 = direct)."""
        return self._distances(self._pred, node, depth)

    def callers_via(self, node: str, depth: int | None = None) -> dict[str, tuple[int, str]]:
        """Transitive callers of node: caller -> (distance, what it calls on a shortest
        path to node)."""
        start = self._ids.get(node)
        if start is None:
            return {}
        names = self.names
        return {
            names[caller]: (distance, names[via])
            for caller, (distance, via) in self._walk(self._pred, [start], depth).items()
            if caller != start
        }

    def callees(self, node: str, depth: int | None = None) -> dict[str, int]:
        return self._distances(self._succ, node, depth)

    def caller_count(self, node: str) -> int:
        """Distinct direct callers (functions, macros, a `_noprof` alias's base)."""
        found = self._ids.get(node)
        return 0 if found is None else len(self._pred[found])

    def _distances(self, neighbours: _Adjacency, node: str, depth: int | None) -> dict[str, int]:
        start = self._ids.get(node)
        if start is None:
            return {}
        reached = self._walk(neighbours, [start], depth)
        del reached[start]
        names = self.names
        return {names[other]: distance for other, (distance, _) in reached.items()}

    def reached_from(
        self, starts: Iterable[str], through: Callable[[str], bool]
    ) -> dict[str, str | None]:
        """Every node the starts call, going on from the nodes `through` accepts only:
        node -> its caller on a shortest path from the nearest start (None for a start)."""
        ids = [self._ids[name] for name in starts if name in self._ids]
        names = self.names
        reached = self._walk(self._succ, ids, None, through=lambda node: through(names[node]))
        return {
            names[node]: None if parent < 0 else names[parent]
            for node, (_, parent) in reached.items()
        }

    def chain(self, caller: str, callee: str) -> list[str]:
        """A shortest call chain caller -> ... -> callee (both included)."""
        start, goal = self._ids.get(caller), self._ids.get(callee)
        if start is None or goal is None:
            return []
        if start == goal:
            return [caller]
        reached = self._walk(self._succ, [start], None, goal)
        if goal not in reached:
            return []
        path = [goal]
        while path[-1] != start:
            path.append(reached[path[-1]][1])
        return [self.names[node] for node in reversed(path)]

    def _walk(
        self,
        neighbours: _Adjacency,
        starts: list[int],
        depth: int | None,
        goal: int = -1,
        through: Callable[[int], bool] | None = None,
    ) -> dict[int, tuple[int, int]]:
        """Breadth first from the starts, up to depth steps and on from the starts and
        the nodes `through` accepts (None: all): node -> (distance, the node it was
        reached from, -1 for a start), until goal is reached."""
        reached = {start: (0, -1) for start in starts}
        frontier, distance, by_name = starts, 0, self.names.__getitem__
        while frontier and (depth is None or distance < depth):
            distance += 1
            following: list[int] = []
            for node in frontier:
                if through is not None and distance > 1 and not through(node):
                    continue  # reached, not walked through
                for other in sorted(neighbours[node], key=by_name):
                    if other not in reached:
                        reached[other] = (distance, node)
                        if other == goal:
                            return reached
                        following.append(other)
            frontier = following
        return reached

    def site(self, caller: str, callee: str) -> Site | None:
        node, other = self._ids.get(caller), self._ids.get(callee)
        if node is None or other is None:
            return None
        found = self._first_sites(node).get(other)
        return Site(*found) if found else None

    def kind(self, node: str) -> str:
        found = self._ids.get(node)
        return _KIND_NAMES[EXTERNAL if found is None else self._kinds[found]]

    def is_function(self, node: str) -> bool:
        return self.kind(node) == "function"

    def files(self, node: str) -> tuple[str, ...]:
        """The files that define node (none for an external)."""
        found = self._ids.get(node)
        return () if found is None else self._files[found]

    def line(self, node: str, path: str | None = None) -> int:
        """The line of node's (first) definition in path, by default its first file (0
        for an external or a file that does not define it)."""
        found = self._ids.get(node)
        if found is None:
            return 0
        files = self._files[found]
        if path is None or not files or path == files[0]:
            return self._lines[found]
        file = self._source(path)
        if file is None:  # gone since
            return 0
        local = _local_statics(file)
        return next(
            (line for name, _, line, _ in definitions(file) if local.get(name, name) == node), 0
        )

    def subgraph(self, nodes: Iterable[str]) -> nx.DiGraph[str]:
        """The nodes and the edges between them, in networkx, with each node's kind,
        files and line: for exports, which show a few dozen nodes."""
        import networkx as nx  # only hotspots and exports need it: keep scans light

        ids = {self._ids[name] for name in nodes if name in self._ids}
        names = self.names
        graph: nx.DiGraph[str] = nx.DiGraph()
        graph.add_nodes_from(
            (
                names[node],
                {
                    "kind": _KIND_NAMES[self._kinds[node]],
                    "files": self._files[node],
                    "line": self._lines[node],
                },
            )
            for node in ids
        )
        graph.add_edges_from(
            (names[node], names[callee])
            for node in ids
            for callee in self._succ[node]
            if callee in ids
        )
        return graph


def _several(nodes: int | tuple[int, ...]) -> tuple[int, ...]:
    return nodes if isinstance(nodes, tuple) else (nodes,)


def _local_statics(file: FileFacts | FileCalls) -> dict[str, str]:
    """name -> "path:name" for the static functions of a .c file."""
    if not file.path.endswith(".c"):
        return {}
    if isinstance(file, FileCalls):
        statics = [name for name, kind in zip(file.names, file.kinds, strict=True) if kind == "s"]
    else:
        statics = [fn.name for fn in file.functions if fn.static]
    return {name: f"{file.path}:{name}" for name in statics}


def display(node: str) -> str:
    """`mm/cma.c:foo` -> `foo` (the bare name, for messages)."""
    return node.rsplit(":", 1)[-1]


def build(files: Iterable[FileFacts]) -> CallGraph:
    return CallGraph().add(files)


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
    graph = build(files)
    return {display(caller) for name in wanted for caller in graph.callers(name, 1)}
