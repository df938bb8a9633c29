"""The agent's Prometheus metrics: one registry per agent process, no module-level metrics.

Every protocol's rounds (by status) and the phases of its last probe are series of their own
here; a protocol's own series (ICMP's RTT histograms and packet counters, the time to first
token) are declared by its spec (``metrics``) and fed by it (``observe``, one path's series at
a time): adding a protocol adds its series without a line here. Buckets: probes/buckets.py.

Quantiles are left to Prometheus (recording rules in deploy/prometheus/, dashboards). Beside
the probes' series: the agent's self-health (schedule lag, skipped rounds, spool, sink).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from cablewatch.collectors.histograms import HistogramFamily
from cablewatch.probes.registry import PROBES
from cablewatch.probes.result import ProbeResult
from cablewatch.probes.spec import Metric

__all__ = ["AgentMetrics", "rtt_quantile_promql"]

_PATH = ("region", "cable", "target")


def rtt_quantile_promql(q: float, window: str, by: str = "region, cable") -> str:
    """PromQL for each path's RTT quantile ``q`` over ``window``, in seconds: its floor plus
    the quantile of the floor-relative histogram."""
    return (
        f"(max by ({by}) (cablewatch_path_floor_seconds) + on ({by}) histogram_quantile("
        f"{q}, sum by (le, {by}) (increase(cablewatch_rtt_excess_seconds_bucket[{window}]))))"
    )


class _PathSeries:
    """One path's series of one protocol's metrics (the spec's ``PathMetrics``), each child
    looked up once: ``labels()`` (locks, validation) cost more per round than the rest of the
    exporter at 1,000 targets."""

    __slots__ = ("_children", "_families", "_labels", "floor_ms")

    def __init__(self, families: Mapping[str, Any], labels: tuple[str, ...],
                 floor_ms: float | None) -> None:  # fmt: skip
        self._families = families
        self._labels = labels
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}
        self.floor_ms = floor_ms

    def _child(self, name: str, extra: tuple[str, ...]) -> Any:
        key = (name, extra)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._families[name].labels(*self._labels, *extra)
        return child

    def observe(self, name: str, value: float, *extra: str) -> None:
        self._child(name, extra).observe(value)

    def inc(self, name: str, value: float, *extra: str) -> None:
        self._child(name, extra).inc(value)

    def set(self, name: str, value: float, *extra: str) -> None:
        self._child(name, extra).set(value)


def _family(m: Metric, registry: CollectorRegistry) -> Any:
    labels = (*_PATH, *m.extra)
    if m.kind == "histogram":
        return HistogramFamily(m.name, m.help, labels, m.buckets, registry)
    kind = Counter if m.kind == "counter" else Gauge
    return kind(m.name, m.help, labels, registry=registry)


class AgentMetrics:
    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        floors_ms: Mapping[tuple[str, str], float] | None = None,
    ) -> None:
        """``floors_ms``: each (region, cable)'s physics floor, for the excess histogram."""
        r = self.registry = registry or CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        """Each metric's child per label values, as ``labels()`` gave it: that lookup (locks,
        validation) cost more per round than the rest of the exporter at 1,000 targets."""
        self.floors_ms = dict(floors_ms or {})
        self._families = {m.name: _family(m, r) for spec in PROBES.values() for m in spec.metrics}
        self._paths: dict[tuple[str, tuple[str, str, str]], _PathSeries] = {}
        self.rounds = Counter(
            "cablewatch_probe_rounds", "Probe rounds made, by protocol and status.",
            (*_PATH, "protocol", "status"), registry=r,
        )  # fmt: skip
        self.phase = Gauge(
            "cablewatch_probe_phase_seconds", "Duration of each phase of the last probe.",
            (*_PATH, "protocol", "phase"), registry=r,
        )  # fmt: skip
        self.schedule_lag = Gauge(
            "cablewatch_agent_schedule_lag_seconds", "How late the last probe started.",
            registry=r,
        )  # fmt: skip
        self.skipped = Counter(
            "cablewatch_agent_skipped_rounds", "Rounds skipped because the agent fell behind.",
            registry=r,
        )  # fmt: skip
        self.spool_points = Gauge(
            "cablewatch_spool_points", "Points in the spool waiting for a sink.", registry=r
        )
        self.spool_bytes = Gauge(
            "cablewatch_spool_bytes", "Bytes of line protocol in the spool.", registry=r
        )
        self.spool_dropped = Gauge(
            "cablewatch_spool_dropped_points", "Points dropped by the spool's disk bound.",
            registry=r,
        )  # fmt: skip
        self.written = Counter(
            "cablewatch_sink_points_written", "Points the sink acknowledged.", ("sink",),
            registry=r,
        )  # fmt: skip
        self.clock_offset = Gauge(
            "cablewatch_agent_clock_offset_seconds", "This host's clock minus the sink's, by "
            "its Date header (whole seconds).", registry=r,
        )  # fmt: skip
        self.refused = Counter(
            "cablewatch_sink_points_refused", "Points the sink refused for good (older than "
            "its retention policy keeps), by reason.", ("sink", "reason"), registry=r,
        )  # fmt: skip
        self.send_errors = Counter(
            "cablewatch_sink_errors", "Failed writes, by kind.", ("sink", "kind"), registry=r
        )
        self.last_write = Gauge(
            "cablewatch_sink_last_success_timestamp_seconds", "When a write last succeeded.",
            ("sink",), registry=r,
        )  # fmt: skip

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(self, result: ProbeResult) -> None:
        path = (
            result.labels.get("region", ""),
            result.labels.get("cable", ""),
            result.address or result.target,
        )
        protocol = result.protocol
        self._child(self.rounds, *path, protocol, result.status).inc()
        for phase, ms in result.phases_ms.items():
            self._child(self.phase, *path, protocol, phase).set(ms / 1000.0)
        observe = PROBES[protocol].observe
        if observe is not None:
            series = self._paths.get((protocol, path))
            if series is None:
                series = self._paths[(protocol, path)] = _PathSeries(
                    self._families, path, self.floors_ms.get(path[:2]))  # fmt: skip
            observe(result, series)
