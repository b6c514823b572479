"""A contiguous-range caller sizes or aligns its range by MAX_ORDER.

What: a function that calls alloc_contig_range(), alloc_contig_pages(), cma_alloc(),
start_isolate_page_range() or offline_pages(), directly or through wrappers (up to
three calls deep, aliasing macros such as `alloc_contig_range` ->
`alloc_contig_range_noprof` resolved), and derives a range, alignment or size check
from MAX_ORDER: MAX_ORDER_NR_PAGES, `1 << MAX_ORDER`, `ALIGN(x, ... MAX_ORDER ...)`,
`max(MAX_ORDER - 1, pageblock_order)`, or a call to a helper or macro whose body does
(5.x's pfn_max_align_down/up).  The finding sits on the MAX_ORDER use and carries the
call chain down to the API as related locations.  Pageblock granularity alone
(pageblock_nr_pages, pageblock_order, CMA_MIN_ALIGNMENT_PAGES) is not a MAX_ORDER
dependency and stays silent; so do order comparisons (`order <= MAX_PAGE_ORDER`),
which are KS004's business.  The call graph is built from direct calls only: calls
through function pointers are not followed.

Why: until 5.19 alloc_contig_range() isolated `[pfn_max_align_down(start),
pfn_max_align_up(end))`, so callers had to align to MAX_ORDER_NR_PAGES and CMA and
virtio-mem sizes were MAX_ORDER-sized (e16faf26780f, C2's b2c9e2fbba32, 11ac3e87ce09,
448b8ec3bf11).  Since then isolation is pageblock-granular.  A caller that still
aligns to MAX_ORDER over-reserves (CMA areas, virtio-mem blocks), and code written
either way changes meaning with the 6.4 MAX_ORDER flip (`1 << MAX_ORDER` is two
largest blocks before 6.4).

Example:
    static int grab_range(unsigned long start, unsigned long nr)
    {
        unsigned long first = ALIGN_DOWN(start, MAX_ORDER_NR_PAGES);    /* KS007 */
        return alloc_contig_range(first, start + nr, MIGRATE_MOVABLE, GFP_KERNEL);
    }

Fix: align to pageblock_nr_pages (CMA_MIN_ALIGNMENT_PAGES for CMA); size by what the
caller needs, not by the buddy allocator's largest order.
"""

import bisect
import re
from collections.abc import Iterator

from kscan.analysis.maxorder import MAX_ORDER_NEEDS, file_meaning
from kscan.analysis.project import Project
from kscan.analysis.rule import Rule
from kscan.callgraph.graph import CallGraph, display
from kscan.discover.prefilter import Needs, needs
from kscan.facts.records import FileFacts, Function, NameUse
from kscan.findings import Finding, Level, Location, OrderAsk, Related
from kscan.patterns import compiled
from kscan.vocab import CONTIG_APIS

WRAPPER_DEPTH = 3
_RANGE_CONTEXT = re.compile(
    r"\b(?:ALIGN|ALIGN_DOWN|IS_ALIGNED|round_up|round_down|roundup|rounddown|max|max_t|min"
    r"|min_t|clamp)\s*\(|<<|&\s*~|%"
)
_DERIVED_NAMES = ("MAX_ORDER", "MAX_PAGE_ORDER", "MAX_ORDER_NR_PAGES")


class ContigMaxOrderAlign(Rule):
    id = "KS007"
    name = "contig-range-max-order-align"
    family = "contig"
    severity = Level.MEDIUM
    confidence = Level.MEDIUM
    # callers name an API; MAX_ORDER-derived helpers name MAX_ORDER
    needs = (needs(sorted(CONTIG_APIS)), *MAX_ORDER_NEEDS)

    def follow(self, project: Project) -> Needs | None:
        """Files that may call the wrappers found so far (up to WRAPPER_DEPTH); a static
        wrapper of a .c file (graph node "path:name") has no callers elsewhere."""
        graph = project.callgraph
        wrappers = {
            node
            for api in CONTIG_APIS
            for target in graph.nodes_named(api)
            for node in graph.callers(target, WRAPPER_DEPTH - 1)
            if ":" not in node
        }
        return needs(sorted(wrappers - CONTIG_APIS)) if wrappers - CONTIG_APIS else None

    def check(self, project: Project) -> Iterator[Finding]:
        graph = project.callgraph
        apis = [n for name in sorted(CONTIG_APIS) for n in graph.nodes_named(name)]
        nearest: dict[str, tuple[int, str]] = {}  # node -> (calls away, the API it reaches)
        for api in apis:
            for node, depth in graph.callers(api, WRAPPER_DEPTH).items():
                nearest[node] = min(nearest.get(node, (depth, api)), (depth, api))
        reaching = {node: api for node, (_, api) in nearest.items()}
        for api in apis:
            reaching.pop(api, None)  # an API's own internals are not its callers
        helpers = {n: why for n, why in _deriving(project).items() if n not in reaching}
        version = project.tree.version
        aligns = "aligns-needed" if version and version[:2] < (5, 19) else "aligns"
        for facts in project.files:
            for fn in facts.functions:
                node = graph.resolve(facts.path, fn.name)
                if node not in reaching:
                    continue
                api = reaching[node]
                towards = [
                    c.byte
                    for c in fn.calls
                    if (target := graph.resolve(facts.path, c.name)) in reaching or target in apis
                ]
                semantics = _semantics(project, facts)
                for line, col, what, name in _derivations(graph, facts, fn, helpers, towards):
                    via = " -> ".join(display(n) for n in graph.chain(node, api)) or display(api)
                    yield self.finding(
                        facts,
                        line,
                        col,
                        fn.name,
                        f"{what} shapes a range handed to {display(api)}() ({via}); "
                        "contiguous-range isolation is pageblock-granular since 5.19",
                        related=_chain_notes(graph, node, api),
                        order=OrderAsk(name, 0, semantics, aligns),
                    )


def _derived(use: NameUse) -> bool:
    return use.name == "MAX_ORDER_NR_PAGES" or (
        use.name in _DERIVED_NAMES and bool(_RANGE_CONTEXT.search(use.context))
    )


def _derivations(
    graph: CallGraph, facts: FileFacts, fn: Function, helpers: dict[str, str], towards: list[int]
) -> Iterator[tuple[int, int, str, str]]:
    """(line, col, description, MAX_ORDER name) of each MAX_ORDER-derived range quantity
    in fn: its own
    uses, and calls to helpers (functions or macros) that compute one.  A quantity in
    another #if branch than every call towards the API (`towards`: their bytes) is
    never compiled with them and does not count."""

    def with_a_call(byte: int) -> bool:
        return any(not facts.exclusive(byte, call) for call in towards)

    seen: set[str] = set()
    # the uses in fn's span (name_uses are in file order): not every use for every caller
    first = bisect.bisect_left(facts.name_uses, fn.span.start_byte, key=lambda u: u.byte)
    for use in _until(facts.name_uses, first, fn.span.end_byte):
        mine = use.function == fn.name
        if mine and _derived(use) and use.context not in seen and with_a_call(use.byte):
            seen.add(use.context)  # one finding per statement
            yield use.line, use.col, f"`{use.context}` (from {use.name})", use.name
    for call in fn.calls:
        why = helpers.get(graph.resolve(facts.path, call.name))
        if why and call.name not in seen and with_a_call(call.byte):
            seen.add(call.name)
            yield call.line, call.col, f"{call.name}() (derived from {why})", why


def _semantics(project: Project, facts: FileFacts) -> str:
    """The MAX_ORDER meaning the file is read under, for the model's numbers."""
    tree = project.tree
    meaning = file_meaning(facts, tree.semantics, tree.semantics_source)
    return meaning.semantics if meaning else tree.semantics or "inclusive-renamed"


def _until(uses: list[NameUse], i: int, end: int) -> Iterator[NameUse]:
    while i < len(uses) and uses[i].byte < end:
        yield uses[i]
        i += 1


def _deriving(project: Project) -> dict[str, str]:
    """Graph node -> MAX_ORDER name, for functions and function-like macros whose body
    aligns or sizes by MAX_ORDER."""
    graph = project.callgraph
    found: dict[str, str] = {}
    for facts in [*project.files, *project.graph_files]:
        for define in facts.defines:
            names = [n for n in _DERIVED_NAMES if compiled(rf"\b{n}\b").search(define.value)]
            if (
                define.params is not None
                and names
                and ("MAX_ORDER_NR_PAGES" in names or _RANGE_CONTEXT.search(define.value))
            ):
                found[graph.resolve(facts.path, define.name)] = names[0]
        for use in facts.name_uses:
            if use.function and _derived(use):
                found.setdefault(graph.resolve(facts.path, use.function), use.name)
    return found


def _chain_notes(graph: CallGraph, node: str, api: str) -> tuple[Related, ...]:
    path = graph.chain(node, api)
    notes = []
    for caller, callee in zip(path, path[1:], strict=False):
        site = graph.site(caller, callee)
        if site is not None:
            notes.append(
                Related(
                    Location(site.path, site.line, 1, display(caller)),
                    f"{display(caller)}() calls {display(callee)}()",
                )
            )
    return tuple(notes)


RULE = ContigMaxOrderAlign()
