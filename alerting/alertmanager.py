"""Fault events as Alertmanager alerts, and a small client of Alertmanager's v2 API.

An event is one alert for its whole life: the same labels (scope, subject, cable, region,
severity, customers) from raised to resolved. The labels name what broke, not which
evaluator saw it first: two evaluators on the same data (``serve`` run twice for high
availability) post the same alert, which Alertmanager merges into one; the event's id, which
holds the time one evaluator first saw it, is an annotation. Firing alerts carry ``endsAt``
4 x the resend interval ahead and are re-sent, as Prometheus does, so that Alertmanager
resolves them by itself if the evaluator dies; resolving sends ``endsAt`` = now.

Labels: alertname (CablewatchCableFault, CablewatchSegmentFault, CablewatchCablePartialFault,
CablewatchRegionFault, CablewatchStationFault, CablewatchPathFault, CablewatchProbeDown,
CablewatchRouteChange: a region's service route moved, CablewatchBaselineShift: a path's
baseline moved by less than a fault, CablewatchAsymmetricReturn: a region's replies come back
over another cable; all three severity info, not faults),
severity, scope, subject, cable, region, landing_station, and ``customers``: the
customers with an affected path, comma-separated (route with
``customers=~"(.*,)?name(,.*)?"``). Severity and customers are decided when the event is raised
(alerting/impact.py) and kept for its life.
The SLA burn-rate alerts come from Prometheus (alerting/rules.py) and carry ``customer``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import httpx

from cablewatch.correlation.classify import INFO_SCOPES, Scope
from cablewatch.correlation.events import Event
from cablewatch.errors import AlertmanagerError

__all__ = ["ALERT_NAMES", "SEVERITY", "AlertmanagerClient", "alert", "summary"]

ALERT_NAMES: Mapping[Scope, str] = {
    "station": "CablewatchStationFault",
    "cable": "CablewatchCableFault",
    "segment": "CablewatchSegmentFault",
    "partial": "CablewatchCablePartialFault",
    "region": "CablewatchRegionFault",
    "path": "CablewatchPathFault",
    "probe": "CablewatchProbeDown",
    "route": "CablewatchRouteChange",
    "shift": "CablewatchBaselineShift",
    "return": "CablewatchAsymmetricReturn",
}
SEVERITY: Mapping[Scope, str] = {
    "station": "critical",
    "cable": "critical",
    "segment": "warning",
    "partial": "warning",
    "region": "critical",
    "path": "warning",
    "probe": "warning",
    "route": "info",
    "shift": "info",
    "return": "info",
}


def _iso(unix_s: float) -> str:
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).isoformat().replace("+00:00", "Z")


def summary(event: Event) -> str:
    bad = sorted({r for r, _c in event.seen_paths})
    of = f"{len(bad)} of {len(bad) + len(event.healthy)} regions"
    back = _back_over(event)
    if event.scope == "cable":
        return (f"cable {event.cable}: {of} lose packets or are slow over it (the whole "
                f"cable){back}")  # fmt: skip
    if event.scope == "segment":
        return (f"segment {event.subject}: every region joining {event.cable} at "
                f"{event.landing_point} is bad ({of}; {len(event.healthy)} healthy)"
                f"{back}")  # fmt: skip
    if event.scope == "partial":
        return (f"cable {event.cable}: {of} bad, {len(event.healthy)} healthy (part of the "
                f"cable's paths, not the whole cable){back}")  # fmt: skip
    if event.scope == "station":
        return f"landing station {event.subject}: every region, every cable"
    if event.scope == "region":
        return f"region {event.region}: every cable lossy or slow (its access, not the cables)"
    if event.scope in INFO_SCOPES:
        return event.note
    if event.scope == "probe":
        return f"region {event.region}: no measurements (probe agent down or not writing)"
    return f"path {event.region} over {event.cable}: lossy or slow"


def _back_over(event: Event) -> str:
    """Member paths out over other cables: their replies come back over this one."""
    others: dict[str, list[str]] = {}
    for region, cable in sorted(event.seen_paths):
        if event.cable and cable != event.cable:
            others.setdefault(region, []).append(cable)
    if not others:
        return ""
    ways = ", ".join(f"{r} out over {' and '.join(cs)}" for r, cs in others.items())
    return f"; replies come back over it for {ways}"


def alert(
    event: Event,
    *,
    station: str,
    evidence: Mapping[str, Any],
    now_s: float,
    resend_s: float,
    generator_url: str = "",
    token: int | None = None,
) -> dict[str, Any]:
    """The v2 API's postable alert for ``event`` (firing, or resolved once it is); its
    severity and customers are those decided when it was raised. ``token``: the fencing token
    of the lease its evaluator holds (an annotation: the alert's identity is the fault's)."""
    labels = {
        "alertname": ALERT_NAMES[event.scope],
        "severity": event.severity or SEVERITY[event.scope],
        "scope": event.scope,
        "subject": event.subject,
        "cable": event.cable,
        "region": event.region,
        "landing_station": station,
        "customers": ",".join(event.customers),
    }
    ends = event.resolved_s if event.resolved_s is not None else now_s + 4 * resend_s
    body: dict[str, Any] = {
        "labels": {k: v for k, v in labels.items() if v},
        "annotations": {
            "summary": summary(event),
            "description": json.dumps(evidence, sort_keys=True),
            "event_id": event.id,
        }
        | ({"lease_token": str(token)} if token is not None else {}),
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
