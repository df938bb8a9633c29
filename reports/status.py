"""A customer's live status page (HTML, no script): each of its regions' state and
recommended cable, the open incidents that touch it, and the last 24 h availability."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cablewatch import __version__
from cablewatch.reports.render import environment
from cablewatch.sla.evaluate import Minute, region_states, window_minutes
from cablewatch.sla.maintenance import MaintenanceWindow
from cablewatch.sla.policy import SlaPolicy
from cablewatch.timefmt import utc_iso

__all__ = ["OpenIncident", "RegionNow", "page"]


@dataclass(frozen=True, slots=True)
class RegionNow:
    """What the evaluator knows of one region now."""

    region: str
    cable: str | None
    reason: str
    states: Mapping[str, str]
    """cable -> 'good', 'bad' or 'unknown'."""
    p50_ms: Mapping[str, float | None]


@dataclass(frozen=True, slots=True)
class OpenIncident:
    scope: str
    subject: str
    cable: str
    since_s: float
    regions: tuple[str, ...]


def _state(now: RegionNow, cables: Sequence[str]) -> str:
    states = [now.states.get(c, "unknown") for c in cables]
    if all(s == "unknown" for s in states):
        return "unknown"
    if now.cable is not None and now.states.get(now.cable) == "good":
        return "degraded" if "bad" in states else "ok"
    return "down" if "good" not in states else "degraded"


def page(
    policy: SlaPolicy,
    station: str,
    now_s: float,
    regions: Mapping[str, RegionNow],
    incidents: Sequence[OpenIncident],
    minutes: Mapping[tuple[str, str], Mapping[int, Minute]],
    maintenance: Sequence[MaintenanceWindow] = (),
) -> str:
    cards = []
    for region in policy.regions:
        now = regions.get(region) or RegionNow(region, None, "", {}, {})
        paths = {c: minutes.get((region, c), {}) for c in policy.cables}
        day = region_states(policy, region, paths, window_minutes(now_s, 86400), maintenance)
        good = sum(1 for s in day.values() if s == "good")
        bad = sum(1 for s in day.values() if s == "bad")
        cards.append({
            "region": region,
            "state": _state(now, policy.cables),
            "cable": now.cable,
            "reason": now.reason,
            "cables": [{"cable": c, "state": now.states.get(c, "unknown"),
                        "p50_ms": now.p50_ms.get(c)} for c in policy.cables],
            "availability": f"{100.0 * good / (good + bad):.3f} %" if good + bad
            else "no complete minute yet",
        })  # fmt: skip
    mine = set(policy.regions)
    shown = [
        {"since": utc_iso(i.since_s), "scope": i.scope, "subject": i.subject, "cable": i.cable,
         "regions": sorted(mine & set(i.regions))}
        for i in incidents if mine & set(i.regions)
    ]  # fmt: skip
    states = {c["state"] for c in cards}
    overall = next((s for s in ("down", "degraded", "unknown") if s in states), "ok")
    headline = {
        "ok": "All regions operating normally.",
        "degraded": "Some cables are impaired; traffic is on a healthy cable.",
        "down": "A region has no healthy cable: service is impaired.",
        "unknown": "No recent measurements for some regions.",
    }[overall]
    return environment().get_template("status.html.j2").render(
        customer=policy.customer, station=station,
        now=utc_iso(now_s)[:19].replace("T", " "),
        regions=cards, incidents=shown, overall=overall, headline=headline,
        objective=f"{policy.availability_pct:g}", version=__version__,
    )  # fmt: skip
