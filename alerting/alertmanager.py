"""Fault events as Alertmanager alerts, and a small client of Alertmanager's v2 API.

An event is one alert for its whole life: the same labels (scope, subject, cable, region,
the event's id) from raised to resolved. Firing alerts carry ``endsAt`` 4 x the resend interval
ahead and are re-sent, as Prometheus does, so that Alertmanager resolves them by itself if the
evaluator dies; resolving sends ``endsAt`` = now.

Labels: alertname (CablewatchCableFault, CablewatchRegionFault, CablewatchStationFault,
CablewatchPathFault, CablewatchProbeDown), severity, scope, subject, cable, region,
landing_station, event_id, and ``customers``: the customers whose SLA policies cover the
event's cable, region or path (every customer for the station), comma-separated (route with
``customers=~"(.*,)?name(,.*)?"``).
The SLA burn-rate alerts come from Prometheus (alerting/rules.py) and carry ``customer``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from cablewatch.correlation.classify import Scope
from cablewatch.correlation.events import Event
from cablewatch.errors import AlertmanagerError
from cablewatch.sla.policy import SlaPolicy

__all__ = ["ALERT_NAMES", "SEVERITY", "AlertmanagerClient", "alert", "customers", "summary"]

ALERT_NAMES: Mapping[Scope, str] = {
    "station": "CablewatchStationFault",
    "cable": "CablewatchCableFault",
    "region": "CablewatchRegionFault",
    "path": "CablewatchPathFault",
    "probe": "CablewatchProbeDown",
}
SEVERITY: Mapping[Scope, str] = {
    "station": "critical",
    "cable": "critical",
    "region": "critical",
    "path": "warning",
    "probe": "warning",
}


def _iso(unix_s: float) -> str:
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).isoformat().replace("+00:00", "Z")


def customers(event: Event, policies: Sequence[SlaPolicy]) -> list[str]:
    """Customers whose policies cover what the event's scope names: a function of the scope and
    subject only, so that an alert's labels (its identity in Alertmanager) never change while
    the event grows."""

    def covers(p: SlaPolicy) -> bool:
        if event.scope == "station":
            return True
        if event.scope == "cable":
            return event.cable in p.cables
        if event.scope in ("region", "probe"):
            return event.region in p.regions
        return event.region in p.regions and event.cable in p.cables

    return sorted(p.customer for p in policies if covers(p))


def summary(event: Event) -> str:
    regions = sorted({r for r, _c in event.seen_paths})
    if event.scope == "cable":
        return f"cable {event.cable}: {len(regions)} regions lose packets or are slow over it"
    if event.scope == "station":
        return f"landing station {event.subject}: every region, every cable"
    if event.scope == "region":
        return f"region {event.region}: every cable lossy or slow (its access, not the cables)"
    if event.scope == "probe":
        return f"region {event.region}: no measurements (probe agent down or not writing)"
    return f"path {event.region} over {event.cable}: lossy or slow"


def alert(
    event: Event,
    *,
    station: str,
    policies: Sequence[SlaPolicy],
    evidence: Mapping[str, Any],
    now_s: float,
    resend_s: float,
    generator_url: str = "",
) -> dict[str, Any]:
    """The v2 API's postable alert for ``event`` (firing, or resolved once it is)."""
    labels = {
        "alertname": ALERT_NAMES[event.scope],
        "severity": SEVERITY[event.scope],
        "scope": event.scope,
        "subject": event.subject,
        "cable": event.cable,
        "region": event.region,
        "landing_station": station,
        "event_id": event.id,
        "customers": ",".join(customers(event, policies)),
    }
    ends = event.resolved_s if event.resolved_s is not None else now_s + 4 * resend_s
    body: dict[str, Any] = {
        "labels": {k: v for k, v in labels.items() if v},
        "annotations": {
            "summary": summary(event),
            "description": json.dumps(evidence, sort_keys=True),
        },
        "startsAt": _iso(event.raised_s if event.raised_s is not None else now_s),
        "endsAt": _iso(ends),
    }
    if generator_url:
        body["generatorURL"] = generator_url
    return body


class AlertmanagerClient:
    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout_s)

    async def post(self, alerts: list[dict[str, Any]]) -> None:
        if not alerts:
            return
        try:
            response = await self._client.post("/api/v2/alerts", json=alerts)
        except httpx.HTTPError as exc:
            raise AlertmanagerError(
                f"alertmanager {self.url}: no answer: {exc or type(exc).__name__}"
            ) from exc
        if response.status_code != 200:
            raise AlertmanagerError(
                f"alertmanager {self.url}: HTTP {response.status_code}: {response.text[:200]}"
            )

    async def close(self) -> None:
        await self._client.aclose()
