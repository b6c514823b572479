"""Hotspots: the functions where fixing a layout assumption matters most.

Score of a function f (defined in the scanned paths; macros are not ranked):

    score(f) = (own(f) + below(f)) * log2(2 + callers(f)) * (1 + alloc(f) + contig(f))

- own(f): its findings, weighted by severity (high 3, medium 2, low 1);
- below(f): findings of the functions it calls, up to BELOW_DEPTH calls down, each
  halved per call level (a finding two calls down counts a quarter);
- callers(f): how many distinct functions call f directly: a fix there protects them all;
- alloc(f) = 0.5 when the allocator's entry points (__alloc_pages, __free_one_page, ...)
  reach f through memory-management code: every allocation can run into it;
- contig(f) = 0.5 when f is on a contiguous-range path: it calls one of the contig APIs
  (within BELOW_DEPTH) or is called from a function that does.

It is a triage order, not a risk measure: a function with one high finding and forty
callers outranks a leaf with three low findings.  Plain reachability is not used as
weight by itself: through the DMA API most of the tree reaches alloc_contig_range.
Each definition of a name defined in several files (each architecture's mem_init())
is ranked on its own: its own findings, and those below the calls its own body makes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from kscan.callgraph.graph import CallGraph, display
from kscan.findings import Finding, Level
from kscan.results import HotspotRow
from kscan.vocab import ALLOCATOR_ENTRIES, CONTIG_APIS

if TYPE_CHECKING:
    import networkx as nx

    from kscan.facts.records import FileFacts

BELOW_DEPTH = 3
_Row = tuple[str, str]  # (node, the file of its definition)
_WEIGHT = {Level.HIGH: 3, Level.MEDIUM: 2, Level.LOW: 1}


@dataclass(frozen=True, slots=True)
class Hotspot:
    node: str
    path: str
    line: int
    score: float
    own: float
    below: float
    callers: int
    alloc: bool
    contig: bool
    chain: tuple[str, ...]  # entry point -> ... -> node -> ... -> the heaviest finding below

    @property
    def name(self) -> str:
        return display(self.node)


class Scanned(Protocol):
    """What hotspots read of a scan: the files it parsed and their call graph."""

    @property
    def files(self) -> list[FileFacts]: ...

    @property
    def callgraph(self) -> CallGraph: ...


def rank(
    graph: CallGraph, findings: list[Finding], scanned: set[str], top: int = 10
) -> list[Hotspot]:
    """The top hotspots among functions defined in the `scanned` files.

    A name defined in several files (each architecture's mem_init(), config
    alternatives) is one node of the graph, but each definition is its own hotspot:
    its own findings, and those below the calls its own body makes.  A kernel is built
    for one architecture: arch/X code is never credited with arch/Y's findings, and
    below generic code the findings in arch/ count for the worst architecture, not
    for all of them."""
    own: dict[_Row, float] = {}
    for finding in findings:
        if finding.location.function:
            node = graph.resolve(finding.location.path, finding.location.function)
            row = (node, finding.location.path)
            own[row] = own.get(row, 0) + _WEIGHT[finding.severity]
    below, heaviest = _below(graph, own)
    entries = [node for name in sorted(ALLOCATOR_ENTRIES) for node in graph.nodes_named(name)]
    from_alloc = graph.reached_from(entries, through=lambda node: _in_mm(graph.files(node)))
    contig_path = _contig_path(graph)
    spots = []
    for row in own.keys() | below.keys():
        node, path = row
        if path not in scanned or not graph.is_function(node):
            continue
        callers = graph.caller_count(node)
        alloc, contig = node in from_alloc, node in contig_path
        base = own.get(row, 0) + below.get(row, 0)
        score = base * math.log2(2 + callers) * (1 + 0.5 * alloc + 0.5 * contig)
        spots.append(
            Hotspot(
                node,
                path,
                0,  # the line and the chain: for the top ones only, below
                round(score, 2),
                own.get(row, 0),
                round(below.get(row, 0), 2),
                callers,
                alloc,
                contig,
                (),
            )
        )
    spots.sort(key=lambda s: (-s.score, s.node, s.path))
    return [
        replace(
            s,
            line=graph.line(s.node, s.path),
            chain=_chain(graph, s.node, from_alloc, contig_path, heaviest.get((s.node, s.path))),
        )
        for s in spots[:top]
    ]


def _below(
    graph: CallGraph, own: dict[_Row, float]
) -> tuple[dict[_Row, float], dict[_Row, tuple[float, str]]]:
    """Each row's findings below the calls its own definition makes, BELOW_DEPTH deep
    and halved per level, and the heaviest of them: (row -> weight, row -> (share,
    node))."""
    by_arch: dict[_Row, dict[str | None, float]] = {}
    heaviest: dict[_Row, tuple[float, str]] = {}
    for (node, found_in), weight in own.items():
        arch = _arch(found_in)
        for caller, (distance, via) in graph.callers_via(node, BELOW_DEPTH).items():
            share = weight / 2**distance
            for path in graph.defining_files(caller, via):
                if arch is not None and _arch(path) not in (None, arch):
                    continue  # another architecture's code
                row = (caller, path)
                shares = by_arch.setdefault(row, {})
                shares[arch] = shares.get(arch, 0) + share
                if share > heaviest.get(row, (0, ""))[0]:
                    heaviest[row] = (share, node)
    return {row: _one_build(shares) for row, shares in by_arch.items()}, heaviest


def _arch(path: str) -> str | None:
    """`arch/x86/mm/ioremap.c` -> `x86`; None for generic code."""
    parts = path.split("/", 2)
    return parts[1] if parts[0] == "arch" and len(parts) > 2 else None


def _one_build(shares: dict[str | None, float]) -> float:
    """Generic code's share plus the worst architecture's."""
    return shares.get(None, 0) + max((v for arch, v in shares.items() if arch), default=0)


def _in_mm(files: tuple[str, ...]) -> bool:
    """Memory-management code: mm/, the headers, arch/*/mm/ and arch/*/include/.  The
    allocator's reach goes on through these only: from __free_one_page() through BUG()
    and panic() into kexec, reboot and ACPI is no allocation running into ioremap()."""
    return any(
        path.startswith(("mm/", "include/"))
        or (path.startswith("arch/") and ("/mm/" in path or "/include/" in path))
        for path in files
    )


def _contig_path(graph: CallGraph) -> dict[str, str]:
    """Callers of the contig APIs (BELOW_DEPTH deep) and what they call: node -> API."""
    on_path: dict[str, str] = {}
    for name in sorted(CONTIG_APIS):
        for api in graph.nodes_named(name):
            for caller in graph.callers(api, BELOW_DEPTH):
                on_path.setdefault(caller, api)
                for callee in graph.callees(caller, 1):
                    on_path.setdefault(callee, api)
    return on_path


def _chain(
    graph: CallGraph,
    node: str,
    from_alloc: dict[str, str | None],
    contig_path: dict[str, str],
    heaviest: tuple[float, str] | None,
) -> tuple[str, ...]:
    """entry -> ... -> node -> ... -> the heaviest finding below it; without an entry
    point, node -> ... -> the contig API it reaches stands in for the upper half."""
    up = [node]
    while (caller := from_alloc.get(up[0])) is not None:
        up.insert(0, caller)
    down = graph.chain(node, heaviest[1])[1:] if heaviest else []
    if node not in from_alloc and not down and node in contig_path:
        down = graph.chain(node, contig_path[node])[1:]
    return (*up, *down)


def top_spots(project: Scanned, findings: list[Finding], top: int) -> list[Hotspot]:
    """The top hotspots among the functions of the files the scan parsed."""
    scanned = {f.path for f in project.files}
    return rank(project.callgraph, findings, scanned, top)


def report_rows(project: Scanned, findings: list[Finding], top: int = 5) -> list[HotspotRow]:
    """The report's short hotspot list, over the files the scan parsed: where a fix
    matters, so findings safe by contract or by design do not count."""
    findings = [f for f in findings if not (f.verdict and f.verdict.kind.startswith("safe"))]
    if not findings:
        return []
    return [
        HotspotRow(s.name, s.path, s.line, s.score, tuple(map(display, s.chain)))
        for s in top_spots(project, findings, top)
    ]


# `kscan hotspots`: the table, and what its marks mean
TABLE_COLUMNS = ("#", "score", "function", "file", "own", "below", "callers", "why hot")
TABLE_LEGEND = "A: reached from the allocator's entry points; C: on a contiguous-range path"


def table_rows(spots: list[Hotspot]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for i, spot in enumerate(spots, 1):
        why = " -> ".join(display(n) for n in spot.chain)
        marks = "".join(m for m, on in (("A ", spot.alloc), ("C ", spot.contig)) if on)
        rows.append(
            (
                str(i),
                f"{spot.score:g}",
                spot.name,
                f"{spot.path}:{spot.line}",
                f"{spot.own:g}",
                f"{spot.below:g}",
                str(spot.callers),
                marks + why,
            )
        )
    return rows


def export(graph: CallGraph, spots: list[Hotspot], fmt: str) -> str:
    """`kscan graph`: the subgraph of the hotspots ranked over graph, as dot or JSON."""
    sub = subgraph(graph, spots)
    return to_dot(sub) if fmt == "dot" else to_json(sub, graph)


def subgraph(graph: CallGraph, spots: list[Hotspot]) -> nx.DiGraph[str]:
    """The hotspots and the chains that make them hot."""
    nodes = {n for spot in spots for n in (spot.node, *spot.chain)}
    sub = graph.subgraph(nodes)
    for spot in spots:  # best first: a name defined in several files shows its best row
        sub.nodes[spot.node].setdefault("score", spot.score)
    return sub


def to_json(sub: nx.DiGraph[str], graph: CallGraph) -> str:
    import json  # `kscan graph -f json` only: a scan does not load it

    nodes = [
        {
            "id": n,
            "name": display(n),
            "kind": a.get("kind", "external"),
            "files": list(a.get("files", ())),
            "score": a.get("score"),
        }
        for n, a in sorted(iter(sub.nodes(data=True)))  # iter(): its items, not its nodes
    ]
    edges = []
    for caller, callee in sorted(sub.edges()):
        site = graph.site(caller, callee)
        edges.append(
            {
                "caller": caller,
                "callee": callee,
                "site": f"{site.path}:{site.line}" if site else None,
            }
        )
    return json.dumps({"nodes": nodes, "edges": edges}, indent=2)


def to_dot(sub: nx.DiGraph[str]) -> str:
    lines = ["digraph hotspots {", "  rankdir=LR;", "  node [shape=box, fontname=monospace];"]
    for node, attrs in sorted(iter(sub.nodes(data=True))):
        label = display(node)
        if attrs.get("score") is not None:
            label += f"\\nscore {attrs['score']}"
        style = ', style=filled, fillcolor="#f4a582"' if attrs.get("score") is not None else ""
        lines.append(f'  "{node}" [label="{label}"{style}];')
    for caller, callee in sorted(sub.edges()):
        lines.append(f'  "{caller}" -> "{callee}";')
    lines.append("}")
    return "\n".join(lines) + "\n"
