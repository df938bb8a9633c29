"""A customer's live status page (HTML, no script): in the customer's words, what each of its
regions experiences now, which cable carries it and why, the open incidents that touch it,
and the last 24 h availability. Region names, not ids; no internal scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cablewatch import __version__
from cablewatch.reports import words
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
    name: str = ""
    """The region's display name (its id if none)."""
    kind: str = ""
    """Why it is on its cable: 'initial', 'fault' or 'speed'."""
    previous: str | None = None
    since_s: float | None = None
    """When it was moved there."""
    holddown_s: float = 600.0
    """A cable left for a fault takes traffic back after being healthy this long."""


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


_WORDS = {"good": "healthy", "bad": "impaired", "unknown": "no recent measurement"}


def _hhmm(unix_s: float | None) -> str:
    return "-" if unix_s is None else utc_iso(unix_s)[11:16] + " UTC"


def why(now: RegionNow) -> str:
    """Which cable carries the region, and why, in plain words."""
    if now.cable is None:
        return "Measuring your cables: a route is chosen once each has enough rounds."
    said = words.moved(now.kind, now.previous, now.cable, _hhmm(now.since_s))
    if now.kind == "fault" and now.previous:
        if now.states.get(now.previous) == "good":
            minutes = f"{now.holddown_s / 60:g} minute" + ("s" if now.holddown_s != 60 else "")
            return (f"{said} {now.previous} is healthy again; we move you back once it has "
                    f"been stable for {minutes}.")  # fmt: skip
        return f"{said} {now.previous} is still impaired."
    return said


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
        name = now.name or region
        paths = {c: minutes.get((region, c), {}) for c in policy.cables}
        day = region_states(policy, region, paths, window_minutes(now_s, 86400), maintenance)
        good = sum(1 for s in day.values() if s == "good")
        bad = sum(1 for s in day.values() if s == "bad")
        cards.append({
            "region": name,
            "state": _state(now, policy.cables),
            "cable": now.cable,
            "why": why(now),
            "cables": [{"cable": c, "state": now.states.get(c, "unknown"),
                        "words": _WORDS[now.states.get(c, "unknown")],
                        "p50_ms": now.p50_ms.get(c)} for c in policy.cables],
            "availability": f"{100.0 * good / (good + bad):.3f} %" if good + bad
            else "no complete minute yet",
        })  # fmt: skip
    mine = set(policy.regions)
    names = {r: (regions[r].name if r in regions and regions[r].name else r) for r in mine}
    shown = [
        {"since": utc_iso(i.since_s)[:16].replace("T", " ") + " UTC",
         "what": words.incident(i.scope, i.cable, i.subject),
         "cable": i.cable, "regions": sorted(names[r] for r in mine & set(i.regions))}
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
