"""Which cable each path's replies come back over, as confirmed from STAMP rounds (pure).

A STAMP round names the cable whose one-way floor its reverse delay fits
(topology/attribution.py: return_cable), or "unknown". Per path, a new return cable counts
once ``confirm`` rounds in a row name it (one odd round is not a routing change); "unknown"
rounds say nothing and leave the confirmed cable as it is. A region is asymmetric while any of
its paths comes back over another cable than it went out on: ``asymmetric(region)`` maps
those paths to their return cable, and ``describe`` says it the way a NOC reads it:
"singapore: out over ADC, back over SJC".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cablewatch.topology.attribution import UNKNOWN

__all__ = ["ReturnChange", "ReturnSeen", "ReturnTracker", "describe"]


@dataclass(frozen=True, slots=True)
class ReturnSeen:
    region: str
    cable: str
    time_s: float
    back: str
    """The cable its replies came back over, or "unknown"."""


@dataclass(frozen=True, slots=True)
class ReturnChange:
    region: str
    cable: str
    since_s: float
    """The first round of the confirmed run."""
    before: str | None
    """None: the first return cable confirmed for the path."""
    after: str


class ReturnTracker:
    def __init__(self, confirm: int = 2) -> None:
        if confirm < 1:
            raise ValueError("confirm must be >= 1")
        self.confirm = confirm
        self.current: dict[tuple[str, str], str] = {}
        self._pending: dict[tuple[str, str], tuple[str, int, float]] = {}

    def observe(self, seen: ReturnSeen) -> ReturnChange | None:
        key = (seen.region, seen.cable)
        if seen.back == UNKNOWN:
            return None
        before = self.current.get(key)
        if seen.back == before:
            self._pending.pop(key, None)
            return None
        back, n, since = self._pending.get(key, (seen.back, 0, seen.time_s))
        if back != seen.back:
            n, since = 0, seen.time_s
        n += 1
        if n < self.confirm:
            self._pending[key] = (seen.back, n, since)
            return None
        self._pending.pop(key, None)
        self.current[key] = seen.back
        return ReturnChange(seen.region, seen.cable, since, before, seen.back)

    def asymmetric(self, region: str) -> dict[str, str]:
        """The region's paths whose replies come back over another cable: cable -> return."""
        return {c: back for (r, c), back in sorted(self.current.items())
                if r == region and back != c}  # fmt: skip


def describe(region: str, asymmetric: Mapping[str, str]) -> str:
    """ "singapore: out over ADC, back over SJC; out over APCN-2, back over SJC"."""
    ways = "; ".join(f"out over {c}, back over {b}" for c, b in asymmetric.items())
    return f"{region}: {ways}" if ways else f"{region}: every path back over its own cable"
