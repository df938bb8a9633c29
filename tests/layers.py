"""The layering rules of cablewatch, checked on the source (AST, no imports run).

Folders are layers; data flows one way (probe -> agent -> sinks -> evaluator -> alerts /
recommendations -> API, dashboards, reports) and imports follow it:

- ``topology`` (the domain) imports nothing of cablewatch but ``errors`` (and itself);
- ``probes`` imports nothing from ``agent``, ``collectors``, ``evaluator``, ``gateway``,
  ``lab``, ``config`` or ``cli``;
- nothing imports ``cli`` or its groups (``commands``), and nothing of the product imports
  ``harness`` (the stack, the closed loop and the HA scenario of tests, benchmarks and the
  demo; not in the wheel);
- a settings module (``<folder>/settings.py``, ``sla/policy.py``) is a leaf: it imports only
  ``schema``, ``errors``, ``topology`` and its own folder, so that ``config`` may import every
  section's settings without depending on the services;
- leaving those leaves aside, the folders' import graph has no cycle;
- no module imports itself back through others (a cycle between files, type-only imports
  included: the contract must not name what fills it in);
- what shares values and statistics with the probes takes them from ``values`` (FieldValue,
  percentile): the evaluation and presentation layers import neither ``probes.spec`` nor
  ``probes.stats`` (a protocol's module, for what its measurement is called, is fine);
- the generic machinery (``agent``, ``collectors``) names no protocol: a protocol's name as a
  string there is a branch on it, and belongs in the protocol's spec (probes/registry.py).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

__all__ = ["imports", "violations"]

_SKIP = {"tests", "bench", "scripts", "build", "deploy", "dashboards_json"}
_PROBES_MUST_NOT = {"agent", "collectors", "evaluator", "gateway", "lab", "config", "cli"}
_LEAF_MAY = {"schema", "errors", "topology"}
_GENERIC = {"agent", "collectors"}
_ABOVE_PROBES = {"evaluator", "failover", "reports", "sla", "correlation", "gateway", "alerting",
                 "dashboards"}  # fmt: skip
_PROBE_INTERNALS = {"probes.spec", "probes.stats"}


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
            if folder == "cli" or (folder == "commands" and me not in ("cli", "commands")):
                out.append(f"{where}: nothing imports cli (or its command groups)")
            if folder == "harness" and me != "harness":
                out.append(f"{where}: the product does not import the test harness")
            if me == "topology" and folder not in ("topology", "errors"):
                out.append(f"{where}: topology imports only errors and physics")
            if me == "probes" and folder in _PROBES_MUST_NOT:
                out.append(f"{where}: probes know nothing of the pipeline")
            if me in _ABOVE_PROBES and target in _PROBE_INTERNALS:
                out.append(f"{where}: shared values and statistics come from values")
            if _leaf(module) and folder not in _LEAF_MAY | {me}:
                out.append(f"{where}: a settings module imports only schema, errors, topology")
            if folder != me and not _leaf(target):
                graph.setdefault(me, set()).add(folder)
    out += _cycles(graph)
    out += _file_cycles(modules)
    protocols = _protocols(modules)
    for module, path in modules.items():
        if _folder(module) in _GENERIC:
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and node.value in protocols:
                    out.append(f"{path.relative_to(root)}:{node.lineno} names protocol "
                               f"{node.value!r}: the generic machinery asks the spec")  # fmt: skip
    return list(dict.fromkeys(out))  # `from m import a, b` names m twice


def _protocols(modules: dict[str, Path]) -> set[str]:
    """The names every ``ProbeSpec(protocol=...)`` in probes/ gives."""
    found: set[str] = set()
    for module, path in modules.items():
        if _folder(module) != "probes":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ProbeSpec":
                found |= {str(k.value.value) for k in node.keywords if k.arg == "protocol"
                          and isinstance(k.value, ast.Constant)}  # fmt: skip
    return found


def _edges(path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules ``path`` imports: ``from package import module`` is that module alone."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = node.module.removeprefix("cablewatch.")
            if node.module.startswith("cablewatch."):
                out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules
                        else _known(base, modules) for a in node.names}  # fmt: skip
        elif isinstance(node, ast.Import):
            out |= {_known(a.name.removeprefix("cablewatch."), modules) for a in node.names
                    if a.name.startswith("cablewatch.")}  # fmt: skip
    return out & modules.keys()


def _file_cycles(modules: dict[str, Path]) -> list[str]:
    """One line per group of modules that import each other round (Tarjan's components)."""
    graph = {m: _edges(p, modules) - {m} for m, p in modules.items() if m != "__main__"}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[str] = []

    def visit(m: str) -> None:
        index[m] = low[m] = len(index)
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if t not in index:
                visit(t)
                low[m] = min(low[m], low[t])
            elif t in stack:
                low[m] = min(low[m], index[t])
        if low[m] == index[m]:
            group = []
            while True:
                t = stack.pop()
                group.append(t)
                if t == m:
                    break
            if len(group) > 1:
                found.append("module cycle: " + " <-> ".join(sorted(group)))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    return found


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
