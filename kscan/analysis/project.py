"""The whole scan as rules see it: every file's facts plus what the tree says."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from kscan.analysis.provenance import Tracer
from kscan.callgraph.graph import CallGraph
from kscan.callgraph.graph import build as build_callgraph
from kscan.discover.treeinfo import TreeInfo
from kscan.facts.records import Call, FileFacts, Function, Loop
from kscan.vocab import VALIDITY_CHECKS


@dataclass
class Project:
    files: list[FileFacts]
    tree: TreeInfo
    extra_validity_checks: frozenset[str] = field(default_factory=frozenset)
    graph_files: list[FileFacts] = field(default_factory=list)  # outside the paths, graph only
    _calls_within: dict[str, dict[str, list[tuple[Function, Call]]]] = field(
        default_factory=dict, repr=False
    )

    @cached_property
    def callgraph(self) -> CallGraph:
        """Callers -> callees over the scanned files and graph_files (kscan/callgraph/graph.py)."""
        return build_callgraph([*self.files, *self.graph_files])

    @cached_property
    def tracer(self) -> Tracer:
        """Range provenance over these files (kscan/analysis/provenance/), its memos
        shared by all the walks of one scan."""
        return Tracer(self)

    def callable_elsewhere(self, name: str) -> bool:
        """A name other files can call: not only static functions of .c files (a
        configured or unseen name counts as callable)."""
        defs = self.functions_by_name.get(name, ())
        return not defs or any(not fn.static or not f.path.endswith(".c") for f, fn in defs)

    def add_files(self, more: list[FileFacts]) -> None:
        """Files a later prefilter round parsed: the call graph and the function index
        grow, the rest of what is derived is computed afresh."""
        self.files.extend(more)
        self._grow_callgraph(more)
        if "functions_by_name" in self.__dict__:
            _index_functions(self.functions_by_name, more)
        self.__dict__.pop("validity_checks", None)
        self.__dict__.pop("tracer", None)
        self._calls_within.clear()

    def add_graph_files(self, more: list[FileFacts]) -> None:
        """Files outside the scanned paths, for the call graph only (--graph-scope tree)."""
        self.graph_files.extend(more)
        self._grow_callgraph(more)

    def _grow_callgraph(self, more: list[FileFacts]) -> None:
        if "callgraph" in self.__dict__:  # else it is built from all files on first use
            self.callgraph.add(more)

    def loops(self) -> Iterator[tuple[FileFacts, Loop]]:
        for facts in self.files:
            for loop in facts.loops:
                yield facts, loop

    @cached_property
    def functions_by_name(self) -> dict[str, list[tuple[FileFacts, Function]]]:
        return _index_functions({}, self.files)

    @cached_property
    def validity_checks(self) -> frozenset[str]:
        """Known checks, configured extras, and local helpers that validate and return NULL.

        A helper takes a PFN and either calls a check and has a `return NULL` / `return
        false` path (a `first_valid_page(pfn, n)` that walks to the first PFN with a
        memmap), or returns a check's result (`return pfn_valid(pfn);`).  Functions not
        given a PFN do not count: vm_normal_page() also calls pfn_valid() and returns
        NULL, for reasons that have nothing to do with a PFN it was handed.  Helpers of
        helpers are found by iterating to a fixed point.
        """
        known = set(VALIDITY_CHECKS) | set(self.extra_validity_checks)
        candidates = [
            (fn.name, {c.name for c in fn.calls} if fn.returns_failure else set(fn.returns_calls))
            for facts in self.files
            for fn in facts.functions
            if fn.returns_failure or fn.returns_calls
        ]
        grew = True
        while grew:
            grew = False
            for name, evidence in candidates:
                if name not in known and evidence & known:
                    known.add(name)
                    grew = True
        return frozenset(known)

    def calls_within(self, facts: FileFacts) -> dict[str, list[tuple[Function, Call]]]:
        """Callee name -> the (caller, call) pairs inside one file, indexed on first use:
        only files holding a walk whose static function may be validated by a caller."""
        index = self._calls_within.get(facts.path)
        if index is None:
            index = {}
            for fn in facts.functions:
                for call in fn.calls:
                    index.setdefault(call.name, []).append((fn, call))
            self._calls_within[facts.path] = index
        return index

    def function(self, facts: FileFacts, loop: Loop) -> Function | None:
        for fn in facts.functions:
            if fn.name == loop.function and fn.span.contains(loop.span.start_byte):
                return fn
        return None


_FunctionIndex = dict[str, list[tuple[FileFacts, Function]]]  # name -> its definitions


def _index_functions(index: _FunctionIndex, files: list[FileFacts]) -> _FunctionIndex:
    for facts in files:
        for fn in facts.functions:
            index.setdefault(fn.name, []).append((facts, fn))
    return index
