"""The whole scan as rules see it: every file's facts plus what the tree says."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from kscan.analysis.nesting import Nest
from kscan.analysis.provenance import Tracer
from kscan.callgraph.graph import CallGraph
from kscan.callgraph.graph import build as build_callgraph
from kscan.discover.treeinfo import TreeInfo
from kscan.facts.functions import FunctionFinder
from kscan.facts.records import Call, FileFacts, Function, Loop
from kscan.vocab import VALIDITY_CHECKS, identifiers

T = TypeVar("T")


@dataclass
class Project:
    files: list[FileFacts]
    tree: TreeInfo
    extra_validity_checks: frozenset[str] = field(default_factory=frozenset)
    graph_files: list[FileFacts] = field(default_factory=list)  # outside the paths, graph only
    _calls_within: dict[str, dict[str, list[tuple[Function, Call]]]] = field(
        default_factory=dict, repr=False
    )
    _per_file: dict[str, tuple[FunctionFinder, Nest]] = field(default_factory=dict, repr=False)
    _bindings: dict[int, Bindings] = field(default_factory=dict, repr=False)
    _derived: dict[str, Any] = field(default_factory=dict, repr=False)

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
        self._derived.clear()

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
        # helper -> what would make it one; each name is followed once (a chain of n
        # helpers, each calling the next, took n rounds over all the candidates)
        waiting: dict[str, list[str]] = {}  # a name -> the helpers that call it
        for facts in self.files:
            for fn in facts.functions:
                if fn.returns_failure or fn.returns_calls:
                    evidence = (
                        {c.name for c in fn.calls} if fn.returns_failure else fn.returns_calls
                    )
                    for name in evidence:
                        waiting.setdefault(name, []).append(fn.name)
        todo = list(known)
        while todo:
            for helper in waiting.pop(todo.pop(), ()):
                if helper not in known:
                    known.add(helper)
                    todo.append(helper)
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
        """The function around a loop (by bisect: a file of n functions asked about its
        n loops would be n x n by a scan)."""
        i = self._indexed(facts)[0].index_at(loop.span.start_byte)
        return facts.functions[i] if i is not None else None

    def nest(self, facts: FileFacts) -> Nest:
        """The file's detailed loops with what they hold, by byte (kscan/analysis/nesting.py)."""
        return self._indexed(facts)[1]

    def _indexed(self, facts: FileFacts) -> tuple[FunctionFinder, Nest]:
        found = self._per_file.get(facts.path)
        if found is None or found[1].facts is not facts:
            found = self._per_file[facts.path] = (FunctionFinder(facts.functions), Nest(facts))
        return found

    def derived(self, key: str, make: Callable[[], T]) -> T:
        """What several rules compute alike, computed once (the PFN walks that KS001
        and KS002 share); computed afresh after files are added."""
        if key not in self._derived:
            self._derived[key] = make()
        found: T = self._derived[key]
        return found

    def bindings(self, function: Function) -> Bindings:
        """What the function assigns to its variables, summarised once per function."""
        found = self._bindings.get(id(function))
        if found is None:
            found = self._bindings[id(function)] = Bindings(function)
        return found


_Search = tuple[re.Pattern[str], Callable[[str], str] | None]  # a pattern, what it reads


class Bindings:
    """The values a function assigns to its variables (Function.values), asked about
    one variable at a time: a loop's bounds read through them (`end = start +
    pageblock_nr_pages`).  A function with n loops asks n times, and each variable can
    have n values; each answer is kept per variable, so the n values are read once,
    not once per loop."""

    def __init__(self, function: Function) -> None:
        self.function = function
        self._first: dict[_Search, dict[str, tuple[int, str]]] = {}
        self._naming: set[str] | None = None

    def first_match(
        self,
        names: set[str],
        pattern: re.Pattern[str],
        prepare: Callable[[str], str] | None = None,
    ) -> str | None:
        """pattern's first match in the values of these variables, in the function's
        order (values do not run into each other: the patterns match within one);
        `prepare`: what of a value is searched."""
        found = self._first.get((pattern, prepare))
        if found is None:
            found = self._first[(pattern, prepare)] = {}
            for i, (var, value) in enumerate(self.function.values):
                searched = prepare(value) if prepare else value
                if var not in found and (match := pattern.search(searched)):
                    found[var] = (i, match.group())
        hits = [found[name] for name in names if name in found]
        return min(hits)[1] if hits else None

    @cached_property
    def params(self) -> set[str]:
        """The names of the function's parameters."""
        return {name for name, _ in self.function.params}

    def name_a_parameter(self, names: set[str]) -> bool:
        """One of these variables is a parameter, or a value of one names a parameter."""
        if self._naming is None:
            self._naming = {
                var for var, value in self.function.values if identifiers(value) & self.params
            }
        return not (self.params.isdisjoint(names) and self._naming.isdisjoint(names))


_FunctionIndex = dict[str, list[tuple[FileFacts, Function]]]  # name -> its definitions


def _index_functions(index: _FunctionIndex, files: list[FileFacts]) -> _FunctionIndex:
    for facts in files:
        for fn in facts.functions:
            index.setdefault(fn.name, []).append((facts, fn))
    return index
