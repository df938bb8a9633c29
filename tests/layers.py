"""The layering rules of cablewatch, checked on the source (AST, no imports run).

Folders are layers; data flows one way (probe -> agent -> sinks -> evaluator -> alerts /
recommendations -> API, dashboards, reports) and imports follow it:

- ``topology`` (the domain) imports nothing of cablewatch but ``errors`` (and itself);
- ``probes`` imports nothing from ``agent``, ``collectors``, ``evaluator``, ``gateway``,
  ``lab``, ``config`` or ``cli``;
- nothing imports ``cli``;
- a settings module (``<folder>/settings.py``, ``sla/policy.py``) is a leaf: it imports only
  ``schema``, ``errors``, ``topology`` and its own folder, so that ``config`` may import every
  section's settings without depending on the services;
- leaving those leaves aside, the folders' import graph has no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

__all__ = ["imports", "violations"]

_SKIP = {"tests", "bench", "scripts", "build", "deploy", "dashboards_json"}
_PROBES_MUST_NOT = {"agent", "collectors", "evaluator", "gateway", "lab", "config", "cli"}
_LEAF_MAY = {"schema", "errors", "topology"}


def _modules(root: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in _SKIP or any(p.startswith(".") for p in rel.parts):
            continue
        name = ".".join(rel.with_suffix("").parts)
        yield name.removesuffix(".__init__"), path


def imports(path: Path) -> set[str]:
    """The cablewatch modules ``path`` imports (dotted, without the 'cablewatch.' prefix)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n.removeprefix("cablewatch.") for n in names if n.startswith("cablewatch.")}
    return found


def _folder(module: str) -> str:
    return module.split(".")[0]


def _known(name: str, modules: dict[str, Path]) -> str:
    """The module ``name`` is or lies in (``from m import Class`` names m.Class)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in modules:
            return ".".join(parts[:n])
    return name


def _leaf(module: str) -> bool:
    return module.endswith(".settings") or module == "sla.policy"


def violations(root: Path) -> list[str]:
    """Every broken rule in the package whose source is at ``root``, one line each."""
    out: list[str] = []
    modules = dict(_modules(root))
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        me = _folder(module)
        if module == "__main__":
            continue  # `python -m cablewatch` runs the CLI: its one importer
        for name in sorted(imports(path)):
            target = _known(name, modules)
            folder = _folder(target)
            where = f"{path.relative_to(root)} imports cablewatch.{target}"
            if folder == "cli":
                out.append(f"{where}: nothing imports cli")
            if me == "topology" and folder not in ("topology", "errors"):
                out.append(f"{where}: topology imports only errors and physics")
            if me == "probes" and folder in _PROBES_MUST_NOT:
                out.append(f"{where}: probes know nothing of the pipeline")
            if _leaf(module) and folder not in _LEAF_MAY | {me}:
                out.append(f"{where}: a settings module imports only schema, errors, topology")
            if folder != me and not _leaf(target):
                graph.setdefault(me, set()).add(folder)
    out += _cycles(graph)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """One line per folder cycle found (depth-first search)."""
    found: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt]
                found.append("folder cycle: " + " -> ".join(cycle))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found
