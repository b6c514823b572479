"""The package layout: the pipeline's stages as packages, imports only downwards."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The stages, lowest first (ARCHITECTURE.md).  A module may import the modules of its
# own layer and of the layers below it, never above.  The lowest layer is the data
# every stage shares (findings, results) and the kernel's vocabulary.  The call graph
# sits below analysis because the rules read it; review sits above the engine because
# it runs scans; what-if sits above it too (it wires the stages with its own readers,
# with the engine's Progress); the reporters sit below them, seeing results only.
LAYERS = (
    (
        "kscan",
        "kscan.atomic",
        "kscan.findings",
        "kscan.patterns",
        "kscan.reading",
        "kscan.results",
        "kscan.vocab",
    ),
    ("kscan.discover",),
    ("kscan.parse",),
    ("kscan.facts",),
    ("kscan.callgraph",),
    ("kscan.analysis",),
    ("kscan.rules",),
    ("kscan.model",),
    ("kscan.report",),
    ("kscan.engine",),
    ("kscan.whatif",),
    ("kscan.review",),
    ("kscan.vm",),
    ("kscan.cli", "kscan.__main__"),
)


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> source file, kscan.rules included (it installs from rules/)."""
    found = {}
    for package, where in (("kscan", root / "kscan"), ("kscan.rules", root / "rules")):
        for path in where.rglob("*.py"):
            parts = [*package.split("."), *path.relative_to(where).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The kscan modules `name` imports: anywhere in it, TYPE_CHECKING blocks and
    imports inside functions included (a lazy import is still an arrow)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *filter(None, [node.module])])
            # `from kscan.facts import cache` imports the module kscan.facts.cache
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        out |= {t for t in targets if t == "kscan" or t.startswith("kscan.")}
    return out


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    found = modules(root)
    return {name: imports(name, path, set(found)) - {name} for name, path in found.items()}


def layer(module: str) -> int:
    """The layer of `module`: the one naming it or its package ("kscan" is the
    package's __init__ only)."""
    for number, names in enumerate(LAYERS):
        if any(module == n or (n != "kscan" and module.startswith(n + ".")) for n in names):
            return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (and ARCHITECTURE.md)")


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected knot of modules (iterative DFS)."""
    found, done, on_path = [], set(), []
    for start in sorted(edges):
        if start in done:
            continue
        stack = [(start, iter(sorted(edges.get(start, ()))))]
        on_path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.pop()
                done.add(node)
            elif child in on_path:
                found.append([*on_path[on_path.index(child) :], child])
            elif child not in done:
                stack.append((child, iter(sorted(edges.get(child, ())))))
                on_path.append(child)
    return found


def test_no_import_circle():
    assert cycles(graph()) == []


def test_no_upward_import():
    upward = [
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in sorted(graph().items())
        for target in sorted(targets)
        if layer(target) > layer(module)
    ]
    assert upward == []


def test_the_checks_see_a_circle_and_an_upward_import():
    """The checker itself: kscan before the layout had engine -> report -> review ->
    engine, and its reporters imported review."""
    edges = {
        "kscan.engine": {"kscan.report"},
        "kscan.report": {"kscan.review"},
        "kscan.review": {"kscan.engine"},
    }
    assert cycles(edges) == [["kscan.engine", "kscan.report", "kscan.review", "kscan.engine"]]
    assert layer("kscan.review.series") > layer("kscan.report.text")


def test_every_package_is_installed():
    """A stage package missing from pyproject's list works from a checkout and is
    missing from a `pip install .`."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    inits = (ROOT / "kscan").rglob("__init__.py")
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in inits}
    assert set(setuptools["packages"]) == on_disk | {"kscan.rules"}
    assert setuptools["package-dir"] == {"kscan.rules": "rules"}
