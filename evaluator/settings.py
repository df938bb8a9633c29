"""Settings of the evaluator process (``[evaluator]`` and ``[alerting]``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AlertingSettings", "EvaluatorSettings"]


@dataclass(frozen=True, slots=True)
class AlertingSettings:
    alertmanager_url: str = ""
    """Alertmanager's base URL; empty: no alerts are posted (events are still stored)."""
    resend_s: float = 60.0
    """Firing alerts are re-sent this often, with endsAt 4 x resend_s ahead (as Prometheus
    does), so Alertmanager resolves them by itself if the evaluator dies."""


@dataclass(frozen=True, slots=True)
class EvaluatorSettings:
    poll_s: float = 1.0
    """How often new rounds are read from InfluxDB for fault detection."""
    sla_interval_s: float = 60.0
    """How often the SLA status is computed and written back."""
    listen_host: str = "127.0.0.1"
    listen_port: int = 9517
