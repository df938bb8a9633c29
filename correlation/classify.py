"""What broke: one classification of every path's state across regions and cables (pure).

Scopes, decided in this order:

- ``probe``: every path of a region has no state (its agent is down or cannot write): a gap
  in the measurements, never counted as a network fault.
- ``station``: every region with data is bad on every cable (at least ``min_regions``).
- ``cable``: at least ``min_regions`` regions are bad on the cable while another of their
  cables is good: the cable, not the regions' access, is the common factor.
- ``region``: a region is bad on every cable it has data for (at least two): its access or
  the probe site, not the cables.
- ``path``: any bad path left: one region over one cable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["SCOPES", "Finding", "PathKey", "PathStatus", "Scope", "classify"]

Scope = Literal["station", "cable", "region", "path", "probe"]
SCOPES: tuple[Scope, ...] = ("station", "cable", "region", "path", "probe")
PathKey = tuple[str, str]
"""(region, cable)."""
PathStatus = Literal["good", "bad", "unknown"]


@dataclass(frozen=True, slots=True)
class Finding:
    scope: Scope
    subject: str
    """The station id, cable name, region id, or 'region/cable'."""
    paths: tuple[PathKey, ...]
    cable: str = ""
    region: str = ""


def classify(
    states: Mapping[PathKey, PathStatus],
    station: str,
    *,
    min_regions: int = 2,
) -> list[Finding]:
    """Findings for the paths of ``states`` (every path of the topology, keyed (region,
    cable)), in the order of the scopes above."""
    regions: dict[str, dict[str, PathStatus]] = {}
    for (region, cable), status in states.items():
        regions.setdefault(region, {})[cable] = status
    findings: list[Finding] = []
    for region, cables in regions.items():
        if all(s == "unknown" for s in cables.values()):
            findings.append(Finding("probe", region, (), region=region))
    all_bad = [
        r
        for r, cables in regions.items()
        if _known(cables) and all(s == "bad" for s in _known(cables).values())
    ]
    with_data = [r for r, cables in regions.items() if _known(cables)]
    bad_paths = [key for key, s in states.items() if s == "bad"]
    if len(all_bad) >= min_regions and len(all_bad) == len(with_data):
        findings.append(Finding("station", station, tuple(sorted(bad_paths))))
        return findings
    claimed: set[PathKey] = set()
    cable_names = list(dict.fromkeys(cable for _region, cable in states))
    for cable in cable_names:
        seen = [
            (r, cable)
            for r, cables in regions.items()
            if cables.get(cable) == "bad"
            and r not in all_bad
            and any(s == "good" for c, s in cables.items() if c != cable)
        ]
        if len(seen) >= min_regions:
            findings.append(Finding("cable", cable, tuple(seen), cable=cable))
            claimed.update(seen)
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


def _known(cables: Mapping[str, PathStatus]) -> dict[str, PathStatus]:
    return {c: s for c, s in cables.items() if s != "unknown"}
