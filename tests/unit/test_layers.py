"""The package's layers, checked on its source (tests/layers.py holds the rules)."""

from __future__ import annotations

import shutil
from pathlib import Path

from layers import violations

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_keeps_its_layers() -> None:
    assert violations(ROOT) == []


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "cablewatch"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(".*", "tests", "bench", "build",
                                                              "scripts", "deploy"))  # fmt: skip
    return tree


def _plant(tree: Path, module: str, line: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}\n")


def test_a_planted_wrong_import_fails_each_rule(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    assert violations(tree) == []
    _plant(tree, "topology/model.py", "from cablewatch.evaluator.service import Evaluator")
    _plant(tree, "probes/tcp.py", "import cablewatch.collectors.influx")
    _plant(tree, "gateway/api.py", "from cablewatch.cli import app")
    _plant(tree, "lab/manager.py", "from cablewatch.harness.stack import influxd")
    _plant(tree, "failover/settings.py", "from cablewatch.correlation.detector import Round")
    found = violations(tree)
    assert any(v.startswith("topology/model.py imports cablewatch.evaluator.service") and
               "topology imports only" in v for v in found), found  # fmt: skip
    assert any(v.startswith("probes/tcp.py imports cablewatch.collectors.influx") for v in found)
    assert any("gateway/api.py imports cablewatch.cli" in v for v in found)
    assert any(v.startswith("lab/manager.py imports cablewatch.harness.stack") for v in found)
    assert any(v.startswith("failover/settings.py") and "settings module" in v for v in found)


def test_a_planted_folder_cycle_fails(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    _plant(tree, "collectors/exporter.py", "from cablewatch.evaluator.metrics import PATH_STATE")
    found = violations(tree)
    assert any(v.startswith("folder cycle:") and "collectors" in v and "evaluator" in v
               for v in found), found  # fmt: skip


def test_a_planted_cycle_protocol_name_and_borrowing_fail(tmp_path: Path) -> None:
    """The contract naming what fills it in (probes/spec.py importing a protocol's module, even
    for types only) is a cycle between files; a protocol's name in agent/ is a branch on it."""
    tree = _copy(tmp_path)
    _plant(
        tree, "probes/spec.py", "if TYPE_CHECKING:\n    from cablewatch.probes.icmp import engine"
    )
    _plant(tree, "agent/agent.py", 'ICMP_ONLY = "icmp"')
    _plant(tree, "failover/score.py", "from cablewatch.probes.stats import summarize")
    found = violations(tree)
    assert any(v.startswith("module cycle:") and "probes.icmp" in v and "probes.spec" in v
               for v in found), found  # fmt: skip
    assert any(v.startswith("agent/agent.py:") and "names protocol 'icmp'" in v
               for v in found), found  # fmt: skip
    assert any(v.startswith("failover/score.py imports cablewatch.probes.stats") and
               "values" in v for v in found), found  # fmt: skip
    assert len(found) == 3, found
