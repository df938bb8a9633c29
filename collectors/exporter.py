"""The agent's Prometheus metrics: one registry per agent process, no module-level metrics.

RTTs go into two histograms, in seconds:

- ``cablewatch_rtt_seconds``: exponential buckets (as smokeping_prober), four per octave
  (factor 2^(1/4), 100 us to 26 s, 73 buckets): any RTT, within about 10 %; the SLA rules use
  it (a bad minute's median against an objective of tens of ms).
- ``cablewatch_rtt_excess_seconds``: the RTT above the path's physics floor
  (``cablewatch_path_floor_seconds``), in buckets that are fine where RTTs live: 0.25 ms wide up
  to 5 ms above the floor, 0.5 ms up to 20 ms, then four per octave to 24 s (91 buckets). A
  path's RTT quantile is its floor plus the excess quantile, within half a millisecond
  (``histogram_quantile`` interpolates inside one bucket; ../shared/environment.md), where the
  absolute buckets miss a 30 ms median by up to 2.5 ms. Cost: 93 more series per path.

- ``cablewatch_ttft_seconds``: the ``ttft`` probe's time to first token, in the RTT buckets
  (within about 10 %); the TTFT objective's rule uses it.

Quantiles are left to Prometheus (recording rules in deploy/prometheus/, dashboards).
Last-round gauges and sent/received counters beside them, and the agent's self-health.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from cablewatch.collectors.histograms import HistogramChild, HistogramFamily
from cablewatch.probes.result import ProbeResult

__all__ = ["EXCESS_BUCKETS", "RTT_BUCKETS", "AgentMetrics", "rtt_quantile_promql"]

RTT_BUCKETS = tuple(round(0.0001 * 2 ** (i / 4), 9) for i in range(73))  # 100 us .. 30.7 s
EXCESS_BUCKETS = (
    *(round(0.00025 * i, 9) for i in range(1, 21)),  # 0.25 ms steps to 5 ms
    *(round(0.005 + 0.0005 * i, 9) for i in range(1, 31)),  # 0.5 ms steps to 20 ms
    *(round(0.02 * 2 ** (i / 4), 9) for i in range(1, 42)),  # four per octave to 24 s
)
_PATH = ("region", "cable", "target")


def rtt_quantile_promql(q: float, window: str, by: str = "region, cable") -> str:
    """PromQL for each path's RTT quantile ``q`` over ``window``, in seconds: its floor plus
    the quantile of the floor-relative histogram."""
    return (
        f"(max by ({by}) (cablewatch_path_floor_seconds) + on ({by}) histogram_quantile("
        f"{q}, sum by (le, {by}) (increase(cablewatch_rtt_excess_seconds_bucket[{window}]))))"
    )


@dataclass(slots=True)
class _IcmpPath:
    rtt: HistogramChild
    excess: HistogramChild | None
    """None: the path has no floor (not in the topology)."""
    floor_ms: float
    sent: Any
    received: Any
    loss: Any
    min: Any
    median: Any
    max: Any


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
        self._icmp: dict[tuple[str, str, str], _IcmpPath] = {}
        self.excess = HistogramFamily(
            "cablewatch_rtt_excess_seconds", "Round-trip time of each ICMP echo reply above "
            "the path's physics floor.", _PATH, EXCESS_BUCKETS, r,
        )  # fmt: skip
        self.floor = Gauge(
            "cablewatch_path_floor_seconds", "The path's physics floor: 2 x km x 4.9 us.", _PATH,
            registry=r,
        )  # fmt: skip
        self.rtt = HistogramFamily(
            "cablewatch_rtt_seconds", "Round-trip time of each ICMP echo reply.", _PATH,
            RTT_BUCKETS, r,
        )  # fmt: skip
        self.ttft = HistogramFamily(
            "cablewatch_ttft_seconds", "Time to first token of the streaming LLM API (ttft "
            "probe: from the start of the connection).", _PATH, RTT_BUCKETS, r,
        )  # fmt: skip
        self.sent = Counter("cablewatch_ping_sent", "ICMP echo requests sent.", _PATH, registry=r)
        self.received = Counter(
            "cablewatch_ping_received", "ICMP echo replies received in time.", _PATH, registry=r
        )
        self.rounds = Counter(
            "cablewatch_probe_rounds", "Probe rounds made, by protocol and status.",
            (*_PATH, "protocol", "status"), registry=r,
        )  # fmt: skip
        self.last_loss = Gauge(
            "cablewatch_last_round_loss_ratio", "Loss of the last ICMP round (0-1).", _PATH,
            registry=r,
        )  # fmt: skip
        self.last_rtt = Gauge(
            "cablewatch_last_round_rtt_seconds", "RTT statistic of the last ICMP round.",
            (*_PATH, "stat"), registry=r,
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
        self.send_errors = Counter(
            "cablewatch_sink_errors", "Failed writes, by kind.", ("sink", "kind"), registry=r
        )
        self.last_write = Gauge(
            "cablewatch_sink_last_success_timestamp_seconds", "When a write last succeeded.",
            ("sink",), registry=r,
        )  # fmt: skip

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)

    def _icmp_path(self, path: tuple[str, str, str]) -> _IcmpPath:
        """The ICMP metrics of one path, looked up once (ten lookups a round otherwise)."""
        floor = self.floors_ms.get(path[:2])
        if floor is not None:
            self._child(self.floor, *path).set(floor / 1000.0)
        b = self._icmp[path] = _IcmpPath(
            rtt=self._child(self.rtt, *path),
            excess=self._child(self.excess, *path) if floor is not None else None,
            floor_ms=floor or 0.0,
            sent=self._child(self.sent, *path),
            received=self._child(self.received, *path),
            loss=self._child(self.last_loss, *path),
            min=self._child(self.last_rtt, *path, "min"),
            median=self._child(self.last_rtt, *path, "median"),
            max=self._child(self.last_rtt, *path, "max"),
        )
        return b

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
        self._child(self.rounds, *path, result.protocol, result.status).inc()
        if result.summary is not None:  # a round of packets (ICMP)
            s = result.summary
            b = self._icmp.get(path) or self._icmp_path(path)
            floor = b.floor_ms
            for rtt in result.rtts_ms:
                if rtt is not None:
                    b.rtt.observe(rtt / 1000.0)
                    if b.excess is not None:
                        b.excess.observe(max(0.0, rtt - floor) / 1000.0)
            b.sent.inc(s.sent)
            b.received.inc(s.received)
            b.loss.set(s.loss_pct / 100.0)
            for gauge, value in ((b.min, s.min_ms), (b.median, s.median_ms), (b.max, s.max_ms)):
                if value is not None:
                    gauge.set(value / 1000.0)
        for phase, ms in result.phases_ms.items():
            self._child(self.phase, *path, result.protocol, phase).set(ms / 1000.0)
        if result.protocol == "ttft" and (ttft_ms := result.phases_ms.get("ttft")) is not None:
            self._child(self.ttft, *path).observe(ttft_ms / 1000.0)
