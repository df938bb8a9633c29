"""The evaluator's Prometheus metrics (one registry per process), in base units."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Info, start_http_server

from cablewatch.sla.evaluate import SlaStatus

__all__ = ["PATH_STATE", "EvaluatorMetrics"]

PATH_STATE = {"good": 0, "bad": 1, "unknown": 2}
_SLA = ("customer", "region", "cable")


class EvaluatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.path_state = Gauge(
            "cablewatch_path_state", "Each path's state: 0 good, 1 bad, 2 no data.",
            ("region", "cable"), registry=r,
        )  # fmt: skip
        self.events_open = Gauge(
            "cablewatch_fault_events_open", "Fault events raised and not resolved.", ("scope",),
            registry=r,
        )  # fmt: skip
        self.events = Counter(
            "cablewatch_fault_events", "Fault events raised.", ("scope",), registry=r
        )
        self.route_changes = Counter(
            "cablewatch_route_changes", "Confirmed changes of a region's service route.",
            ("region",), registry=r,
        )  # fmt: skip
        self.availability = Gauge(
            "cablewatch_sla_availability_ratio", "Good minutes / minutes with data, over the "
            "SLA period.", _SLA, registry=r,
        )  # fmt: skip
        self.budget = Gauge(
            "cablewatch_sla_error_budget_remaining_ratio", "1 - bad minutes / error budget.",
            _SLA, registry=r,
        )  # fmt: skip
        self.burn = Gauge(
            "cablewatch_sla_burn_rate", "Error budget burn rate over a window (1: spent "
            "exactly over the period).", (*_SLA, "window"), registry=r,
        )  # fmt: skip
        self.rtt_p95 = Gauge(
            "cablewatch_sla_rtt_p95_seconds", "RTT p95 over the objective window.", _SLA,
            registry=r,
        )  # fmt: skip
        self.ttft_p95 = Gauge(
            "cablewatch_sla_ttft_p95_seconds", "Time to first token p95 over the objective "
            "window (policies with a TTFT objective).", _SLA, registry=r,
        )  # fmt: skip
        self.loss = Gauge(
            "cablewatch_sla_loss_ratio", "Round-trip loss over the objective window.", _SLA,
            registry=r,
        )  # fmt: skip
        self.compliant = Gauge(
            "cablewatch_sla_compliant", "1 when every objective with data is met.", _SLA,
            registry=r,
        )  # fmt: skip
        self.recommended = Info(
            "cablewatch_recommended_cable", "The cable recommended for each region.",
            ("region",), registry=r,
        )  # fmt: skip
        self.last_poll = Gauge(
            "cablewatch_evaluator_last_poll_timestamp_seconds",
            "When the evaluator last read the system of record successfully.", registry=r,
        )  # fmt: skip
        self.lease_token = Gauge(
            "cablewatch_evaluator_lease_token",
            "The fencing token of the landing station's lease while this instance holds it "
            "and writes; 0 while it stands by ([bus] deployments).", registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "cablewatch_evaluator_errors", "Failed reads, writes and alert posts, by kind.",
            ("kind",), registry=r,
        )  # fmt: skip

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)

    def observe_sla(self, s: SlaStatus) -> None:
        key = (s.customer, s.region, s.cable)
        nan = float("nan")
        self.availability.labels(*key).set(
            nan if s.availability_pct is None else s.availability_pct / 100
        )
        self.budget.labels(*key).set(s.budget_left_pct / 100)
        for window, rate in s.burn_rates.items():
            self.burn.labels(*key, window).set(nan if rate is None else rate)
        self.rtt_p95.labels(*key).set(nan if s.rtt_p95_ms is None else s.rtt_p95_ms / 1000)
        self.loss.labels(*key).set(nan if s.loss_pct is None else s.loss_pct / 100)
        self.ttft_p95.labels(*key).set(nan if s.ttft_p95_ms is None else s.ttft_p95_ms / 1000)
        self.compliant.labels(*key).set(nan if s.compliant is None else float(s.compliant))
