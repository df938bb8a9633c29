"""Settings of alerting (``[alerting]``)."""

from __future__ import annotations

from dataclasses import dataclass

from cablewatch.schema import Num, Str, Table, valid_url

__all__ = ["AlertingSettings"]


@dataclass(frozen=True, slots=True)
class AlertingSettings:
    alertmanager_url: str = ""
    """Alertmanager's base URL; empty: no alerts are posted (events are still stored)."""
    resend_s: float = 60.0
    """Firing alerts are re-sent this often, with endsAt 4 x resend_s ahead (as Prometheus
    does), so Alertmanager resolves them by itself if the evaluator dies."""

    @classmethod
    def from_table(cls, t: Table | None) -> AlertingSettings:
        if t is None:
            return cls()
        v = t.read(alertmanager_url=Str(), resend_s=Num(1))
        t.finish()
        url = v.get("alertmanager_url", "")
        if url and not valid_url(url):
            t.problem("alertmanager_url", f"got {url!r}, expected an http:// or https:// URL")
        return cls(**v | {"alertmanager_url": url.rstrip("/")})
