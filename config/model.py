"""The whole configuration: the topology (the domain) and every section's settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cablewatch.alerting.settings import AlertingSettings
from cablewatch.bus.settings import BusSettings
from cablewatch.collectors.settings import InfluxSink, Sinks
from cablewatch.correlation.settings import DetectionSettings
from cablewatch.errors import CablewatchError
from cablewatch.evaluator.settings import EvaluatorSettings
from cablewatch.failover.settings import FailoverSettings
from cablewatch.gateway.settings import ApiSettings, WebhookSettings
from cablewatch.probes.settings import ProbeSettings
from cablewatch.reports.settings import ReportSettings
from cablewatch.sla.maintenance import MaintenanceWindow
from cablewatch.sla.policy import SlaPolicy
from cablewatch.topology.model import Topology, lookup

__all__ = ["Config"]


@dataclass(frozen=True, slots=True)
class Config:
    source: Path
    """The file it was read from (named in errors)."""
    topology: Topology
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    sinks: Sinks = field(default_factory=Sinks)
    slas: tuple[SlaPolicy, ...] = ()
    detection: DetectionSettings = field(default_factory=DetectionSettings)
    alerting: AlertingSettings = field(default_factory=AlertingSettings)
    evaluator: EvaluatorSettings = field(default_factory=EvaluatorSettings)
    failover: FailoverSettings = field(default_factory=FailoverSettings)
    api: ApiSettings | None = None
    webhooks: tuple[WebhookSettings, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    report: ReportSettings = field(default_factory=ReportSettings)
    bus: BusSettings | None = None
    """NATS JetStream between agents and evaluators; None: agents write InfluxDB directly."""

    def sla(self, customer: str) -> SlaPolicy:
        """A customer's policy, by name (case-insensitive); UnknownNameError otherwise."""
        names = [p.customer for p in self.slas]
        return self.slas[names.index(lookup("customer", customer, names))]

    def influx(self, purpose: str) -> InfluxSink:
        """``[sinks.influxdb]``, which ``purpose`` needs; a one-line error without it."""
        sink = self.sinks.influxdb
        if sink is None:
            raise CablewatchError(f"{self.source}: no [sinks.influxdb] section: {purpose}")
        return sink
