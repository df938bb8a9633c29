"""What broke: one classification of every path's state across regions and cables (pure).

What the topology knows localises a fault: each region's path joins a cable at a landing
point, so the regions that share a landing point share that stretch of the cable. Scopes,
decided in this order:

- ``probe``: every path of a region has no state (its agent is down or cannot write): a gap
  in the measurements, never counted as a network fault.
- ``station``: every region with data is bad on every cable (at least ``min_regions``).
- per cable, among the regions bad on it that are fine on another cable (the cable, not the
  region's access, is the common factor), with at least ``min_regions`` of them:
  - ``cable``: every region with data on the cable is bad, or more than ``agreement`` of
    them are and they are not exactly whole landing points: the whole cable;
  - ``segment``: every region that joins the cable at one landing point is bad (at least
    ``min_regions`` of them), while regions elsewhere on the cable are fine: that stretch,
    named "<cable> <landing point>-<station>";
  - ``partial``: any other subset of the cable's paths.
- ``region``: a region is bad on every cable it has data for (at least two): its access or
  the probe site, not the cables.
- ``path``: any bad path left: one region over one cable.

Every cable-wide finding says which of the cable's regions are bad and which are healthy.

The way back (``returns``: the cable each path's replies come back over, as STAMP named it,
correlation/returns.py): a bad path out over A whose replies come back over B, where the same
region's path over B is bad too, is a victim of B, not evidence against A or against the
region: it is judged good for the classification (A's forward way is not what broke), then
joins the finding that holds the region's B path. Cut the cable singapore's replies come back
over, and singapore's other paths join that cable's finding: no fault of the cables they go
out on, and no region fault for singapore.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["INFO_SCOPES", "SCOPES", "Finding", "PathKey", "PathStatus", "Scope", "classify"]

Scope = Literal["station", "cable", "segment", "partial", "region", "path", "probe", "route",
                "shift", "return"]  # fmt: skip
"""'route': a region's service route changed (correlation/routes.py); 'shift': a path's
baseline moved, less than a fault (correlation/shift.py); 'return': a region's replies come
back over another cable (correlation/returns.py); never findings here."""
SCOPES: tuple[Scope, ...] = ("station", "cable", "segment", "partial", "region", "path", "probe")
INFO_SCOPES: tuple[Scope, ...] = ("route", "shift", "return")
"""Info events: not faults (no ``event`` point, no failover, not in a report's incidents)."""
PathKey = tuple[str, str]
"""(region, cable)."""
PathStatus = Literal["good", "bad", "unknown"]


@dataclass(frozen=True, slots=True)
class Finding:
    scope: Scope
    subject: str
    """The station id, cable name, '<cable> <landing point>-<station>', region id, or
    'region/cable'."""
    paths: tuple[PathKey, ...]
    cable: str = ""
    region: str = ""
    healthy: tuple[str, ...] = ()
    """Cable-wide scopes: the regions whose path over the cable is fine."""
    landing_point: str = ""


def classify(
    states: Mapping[PathKey, PathStatus],
    station: str,
    *,
    min_regions: int = 2,
    agreement: float = 0.5,
    landing_points: Mapping[PathKey, str] | None = None,
    station_name: str = "",
    returns: Mapping[PathKey, str] | None = None,
) -> list[Finding]:
    """Findings for the paths of ``states`` (every path of the topology, keyed (region,
    cable)), in the order of the scopes above. ``landing_points``: where each path joins its
    cable (paths without one are never part of a segment); ``returns``: each path's return
    cable, where known (see the module)."""
    victims = _return_victims(states, returns or {})
    if victims:
        judged = {key: "good" if key in victims else s for key, s in states.items()}
        found = classify(judged, station, min_regions=min_regions, agreement=agreement,
                         landing_points=landing_points, station_name=station_name)  # fmt: skip
        return _join_victims(found, victims)
    regions: dict[str, dict[str, PathStatus]] = {}
    for (region, cable), status in states.items():
        regions.setdefault(region, {})[cable] = status
    findings: list[Finding] = []
    for region, cables in regions.items():
        if all(s == "unknown" for s in cables.values()):
            findings.append(Finding("probe", region, (), region=region))
    known = {r: k for r, cables in regions.items() if (k := _known(cables))}
    all_bad = [r for r, k in known.items() if all(s == "bad" for s in k.values())]
    with_data = list(known)
    bad_paths = [key for key, s in states.items() if s == "bad"]
    if len(all_bad) >= min_regions and len(all_bad) == len(with_data):
        findings.append(Finding("station", station, tuple(sorted(bad_paths))))
        return findings
    claimed: set[PathKey] = set()
    cable_names = list(dict.fromkeys(cable for _region, cable in states))
    where = landing_points or {}
    for cable in cable_names:
        found = _cable(cable, regions, set(all_bad), where, min_regions, agreement,
                       station_name or station)  # fmt: skip
        findings += found
        claimed.update(p for f in found for p in f.paths)
    for region in all_bad:
        paths = tuple((region, c) for c, s in regions[region].items() if s == "bad")
        if len(paths) >= 2:
            findings.append(Finding("region", region, paths, region=region))
            claimed.update(paths)
    for region, cable in bad_paths:
        if (region, cable) not in claimed:
            findings.append(
                Finding("path", f"{region}/{cable}", ((region, cable),), cable=cable, region=region)
            )
    return findings


def _cable(
    cable: str,
    regions: Mapping[str, Mapping[str, PathStatus]],
    all_bad: set[str],
    where: Mapping[PathKey, str],
    min_regions: int,
    agreement: float,
    station: str,
) -> list[Finding]:
    """The cable-wide findings of one cable: cable, segments, partial (or none)."""
    on = {r: cables[cable] for r, cables in regions.items() if cables.get(cable, "unknown")
          != "unknown"}  # fmt: skip
    bad = [r for r, s in on.items() if s == "bad" and r not in all_bad
           and any(st == "good" for c, st in regions[r].items() if c != cable)]  # fmt: skip
    healthy = tuple(sorted(r for r, s in on.items() if s == "good"))
    if len(bad) < min_regions:
        return []

    def finding(scope: Scope, subject: str, members: list[str], lp: str = "") -> Finding:
        paths = tuple((r, cable) for r in members)
        return Finding(scope, subject, paths, cable=cable, healthy=healthy, landing_point=lp)

    if not healthy:
        return [finding("cable", cable, bad)]
    groups: dict[str, list[str]] = {}
    for r in on:
        lp = where.get((r, cable))
        if lp:
            groups.setdefault(lp, []).append(r)
    whole = [lp for lp, members in groups.items()
             if len(members) >= min_regions and set(members) <= set(bad)]  # fmt: skip
    in_whole = {r for lp in whole for r in groups[lp]}
    if len(bad) > agreement * len(on) and in_whole != set(bad):
        return [finding("cable", cable, bad)]
    out = [finding("segment", f"{cable} {lp}-{station}", groups[lp], lp) for lp in whole]
    rest = [r for r in bad if r not in in_whole]
    if len(rest) >= min_regions:
        out.append(finding("partial", cable, rest))
    return out


def _known(cables: Mapping[str, PathStatus]) -> dict[str, PathStatus]:
    return {c: s for c, s in cables.items() if s != "unknown"}


def _return_victims(
    states: Mapping[PathKey, PathStatus], returns: Mapping[PathKey, str]
) -> dict[PathKey, PathKey]:
    """Bad paths whose replies come back over another cable on which the region's own path is
    bad too: path -> that path (the one whose finding it joins)."""
    out: dict[PathKey, PathKey] = {}
    for (region, cable), s in states.items():
        back = returns.get((region, cable))
        if (s == "bad" and back is not None and back != cable
                and states.get((region, back)) == "bad"):  # fmt: skip
            out[(region, cable)] = (region, back)
    return out


def _join_victims(found: list[Finding], victims: Mapping[PathKey, PathKey]) -> list[Finding]:
    """Each victim joins the finding that holds the path its replies come back over."""
    out = []
    for f in found:
        joined = tuple(v for v, via in victims.items() if via in f.paths)
        out.append(replace(f, paths=f.paths + joined) if joined else f)
    return out
