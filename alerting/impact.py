"""Who an event hurts, and how badly (pure): the customers with an affected path, and the
alert's severity from their SLA's point of view.

- Customers: those whose policy covers an affected path (its region and cable). A whole
  cable affects every region with a path over it, a segment every region joining the cable at
  that landing point, a partial or path event the paths it holds when raised, a region or
  probe event that region, the station every customer.
- Severity: ``critical`` when a customer's SLA is breached or at risk: an affected region of
  theirs has no clean cable left among the policy's cables, or its error budget burns above the
  fast threshold (CablewatchSlaBurnFast); and always for a whole cable, a region or the
  station (traffic has lost a route, or everything). ``warning`` when paths are bad but every
  affected customer still has a clean cable (failover keeps them within their SLA), and for a
  probe gap.

Both are decided when the event is raised and kept for its life: they are the alert's labels,
its identity in Alertmanager.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from cablewatch.correlation.classify import PathKey, PathStatus
from cablewatch.correlation.events import Event
from cablewatch.sla.policy import SlaPolicy

__all__ = ["FAST_BURN", "affected_paths", "customers", "severity"]

FAST_BURN = "CablewatchSlaBurnFast"


def affected_paths(event: Event, cable_regions: Mapping[str, Sequence[str]]) -> set[PathKey]:
    """The paths an event stands for: a whole cable's every region, else its own paths."""
    if event.scope == "cable":
        return {(r, event.cable) for r in cable_regions.get(event.cable, ())} | event.seen_paths
    return set(event.seen_paths)


def customers(
    event: Event, policies: Sequence[SlaPolicy], cable_regions: Mapping[str, Sequence[str]]
) -> tuple[str, ...]:
    """Customers whose policy covers an affected path (for region and probe events: the
    region; for the station: everyone)."""
    paths = affected_paths(event, cable_regions)

    def covers(p: SlaPolicy) -> bool:
        if event.scope == "station":
            return True
        if event.scope in ("region", "probe"):
            return event.region in p.regions
        return any(r in p.regions and c in p.cables for r, c in paths)

    return tuple(sorted(p.customer for p in policies if covers(p)))


def severity(
    event: Event,
    names: Collection[str],
    policies: Sequence[SlaPolicy],
    status: Mapping[PathKey, PathStatus],
    burning: Collection[tuple[str, str]],
) -> str:
    """``critical`` or ``warning`` (see the module). ``names``: the event's customers;
    ``burning``: (customer, region) whose fast burn-rate alert fires."""
    if event.scope in ("station", "cable", "region"):
        return "critical"
    if event.scope == "probe":
        return "warning"
    regions = {r for r, _c in event.seen_paths}
    for policy in policies:
        if policy.customer not in names:
            continue
        for region in regions & set(policy.regions):
            clean = any(status.get((region, c)) == "good" for c in policy.cables)
            if not clean or (policy.customer, region) in burning:
                return "critical"
    return "warning"
