"""Load and validate the cablewatch configuration file (TOML).

Everything is checked at load time: types, ranges, unknown keys, references between sections
(a target's cable must exist, a path must be at least as long as the great circle, ...). Every
problem found is reported at once, each naming the file, the dotted key, the value and what was
expected; see :class:`cablewatch.errors.ConfigError`. This module only dispatches: the
topology's sections are read by config/topology.py, and every other section by its own
settings class (``from_table``), where its defaults are declared.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from cablewatch.alerting.settings import AlertingSettings
from cablewatch.bus.settings import BusSettings
from cablewatch.collectors.settings import Sinks
from cablewatch.config.model import Config
from cablewatch.config.topology import read_topology
from cablewatch.correlation.settings import DetectionSettings
from cablewatch.errors import ConfigError, ConfigIssue
from cablewatch.evaluator.settings import EvaluatorSettings
from cablewatch.failover.settings import FailoverSettings
from cablewatch.gateway.settings import ApiSettings, WebhookSettings
from cablewatch.probes.registry import PROTOCOLS
from cablewatch.probes.settings import ProbeSettings
from cablewatch.reports.settings import ReportSettings
from cablewatch.schema import Table
from cablewatch.sla.maintenance import MaintenanceWindow
from cablewatch.sla.policy import SlaPolicy
from cablewatch.topology.model import normalise_name

__all__ = ["DEFAULT_TOPOLOGY", "default_path", "load", "load_default", "parse"]

DEFAULT_TOPOLOGY = "shantou.toml"


def default_path() -> Path:
    """Path of the packaged default configuration (Shantou, ADC / SJC / APCN-2)."""
    return Path(str(resources.files("cablewatch.topology") / "data" / DEFAULT_TOPOLOGY))


def load_default() -> Config:
    return load(default_path())


def load(path: str | Path) -> Config:
    """Read and validate ``path``; raise ConfigError naming every problem."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(file), "(file)", exc.strerror or str(exc))]) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue(str(file), "(file)", f"not UTF-8 text: {exc}")]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigIssue(str(file), "(syntax)", f"invalid TOML: {exc}")]) from exc
    return parse(data, file)


def parse(data: dict[str, Any], file: Path) -> Config:
    issues: list[ConfigIssue] = []
    root = Table(str(file), "", data, issues)
    topology = read_topology(root, PROTOCOLS)
    cables = {normalise_name(c.name): c.name for c in topology.cables} if topology else {}
    region_ids = [r.id for r in topology.regions] if topology else []

    def section(name: str) -> Table | None:
        return root.table(name, required=False)

    probe = ProbeSettings.from_table(section("probe"))
    sinks = Sinks.from_table(section("sinks"))
    slas = _slas(root.tables("sla", required=False), cables, region_ids)
    detection = DetectionSettings.from_table(section("detection"))
    alerting = AlertingSettings.from_table(section("alerting"))
    evaluator = EvaluatorSettings.from_table(section("evaluator"))
    failover = FailoverSettings.from_table(section("failover"))
    api = ApiSettings.from_table(section("api"))
    hooks = [WebhookSettings.from_table(t) for t in root.tables("webhooks", required=False)]
    station = topology.landing_station.id if topology else ""
    maintenance = [MaintenanceWindow.from_table(t, cables, region_ids, station)
                   for t in root.tables("maintenance", required=False)]  # fmt: skip
    report = ReportSettings.from_table(section("report"))
    bus = BusSettings.from_table(section("bus"))
    customers = {p.customer for p in slas}
    for name, scope in api.scopes if api else ():
        if scope != "operator" and scope not in customers:
            root.problem(f"api.scopes.{name}", f"got {scope!r}, expected 'operator' or a "
                         f"customer of an [[sla]] ({', '.join(sorted(customers))})")  # fmt: skip
    root.finish()
    if issues:
        raise ConfigError(issues)
    assert topology is not None  # no issues means every required part was read
    return Config(file, topology, probe, sinks, slas, detection, alerting, evaluator, failover,
                  api, tuple(h for h in hooks if h is not None),
                  tuple(m for m in maintenance if m is not None), report, bus)  # fmt: skip


def _slas(
    tables: list[Table], cables: dict[str, str], region_ids: list[str]
) -> tuple[SlaPolicy, ...]:
    out: list[SlaPolicy] = []
    for t in tables:
        policy = SlaPolicy.from_table(t, cables, region_ids)
        if policy is None:
            continue
        if any(p.customer == policy.customer for p in out):
            t.problem("customer", f"customer {policy.customer!r} has two [[sla]] policies")
            continue
        out.append(policy)
    return tuple(out)
