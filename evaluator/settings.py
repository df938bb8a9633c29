"""Settings of the evaluator process (``[evaluator]``)."""

from __future__ import annotations

from dataclasses import dataclass

from cablewatch.schema import Int, Num, Str, Table

__all__ = ["EvaluatorSettings", "tracker_window_ns"]


def tracker_window_ns(now_s: float, interval_s: float) -> int:
    """Where the route and return trackers read from at each pass: the last 3 rounds of their
    protocol (``interval_s`` apart), 120 s at least (ns since the epoch)."""
    return int((now_s - max(120.0, 3 * interval_s)) * 1e9)


@dataclass(frozen=True, slots=True)
class EvaluatorSettings:
    poll_s: float = 1.0
    """How often new rounds are read from InfluxDB for fault detection."""
    sla_interval_s: float = 60.0
    """How often the SLA status is computed and written back."""
    listen_host: str = "127.0.0.1"
    listen_port: int = 9517
    route_confirm_traces: int = 2
    """A service route change counts once this many traces in a row show the new route."""
    route_hold_s: float = 600.0
    """A route-change event stays open (an info alert) this long; a fault event takes in the
    route changes back onto its cable this long after it resolved."""
    record_inputs: str = ""
    """Append every round each detection pass judged, as it read them and when, to this file
    (JSON lines, evaluator/record.py); empty: off."""

    @classmethod
    def from_table(cls, t: Table | None) -> EvaluatorSettings:
        if t is None:
            return cls()
        out = cls(**t.read(poll_s=Num(0.1, 3600), sla_interval_s=Num(1), listen_host=Str(),
                           listen_port=Int(0, 65535), route_confirm_traces=Int(1, 10),
                           route_hold_s=Num(1), record_inputs=Str()))  # fmt: skip
        t.finish()
        return out
