"""Route changes of a region's service path (pure; traces in, changes out).

The service path is the route customers' traffic takes to the station. Its traces say which
cable it is on (topology/attribution.py) and its hop sequence. A change counts when it lasts:
``confirm`` traces in a row (default 2) show the same new route. A silent hop ('*') matches any
address, and traces that did not reach the destination say nothing about the route (a cut
looks like that; it is the cable event's business, not a route change).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RouteChange", "RouteTracker", "TraceSeen", "same_route"]


@dataclass(frozen=True, slots=True)
class TraceSeen:
    region: str
    time_s: float
    cable: str
    """The attributed cable ('unknown' when none or several)."""
    hops: tuple[str, ...]
    """Hop addresses in order, '*' for a silent hop."""
    rtt_ms: float | None
    reached: bool


@dataclass(frozen=True, slots=True)
class RouteChange:
    region: str
    time_s: float
    """When the first trace of the new route was taken."""
    before: TraceSeen
    after: TraceSeen

    @property
    def rtt_step_ms(self) -> float | None:
        a, b = self.before.rtt_ms, self.after.rtt_ms
        return None if a is None or b is None else round(b - a, 3)

    @property
    def summary(self) -> str:
        step = self.rtt_step_ms
        moved = (f"moved from {self.before.cable} to {self.after.cable}"
                 if self.before.cable != self.after.cable
                 else f"changed hops on {self.after.cable}")  # fmt: skip
        return f"region {self.region}: service route {moved}" + (
            f" (RTT {step:+.1f} ms)" if step is not None else ""
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "time_s": self.time_s,
            "cable_before": self.before.cable,
            "cable_after": self.after.cable,
            "hops_before": list(self.before.hops),
            "hops_after": list(self.after.hops),
            "rtt_step_ms": self.rtt_step_ms,
        }


def same_route(a: TraceSeen, b: TraceSeen) -> bool:
    """Same cable and the same hops, a silent hop matching any address."""
    if a.cable != b.cable or len(a.hops) != len(b.hops):
        return False
    return all(x == y or "*" in (x, y) for x, y in zip(a.hops, b.hops, strict=True))


class RouteTracker:
    def __init__(self, confirm: int = 2) -> None:
        self.confirm = confirm
        self.current: dict[str, TraceSeen] = {}
        """Each region's route, as last confirmed (the first trace sets it)."""
        self._candidate: dict[str, list[TraceSeen]] = {}

    def observe(self, t: TraceSeen) -> RouteChange | None:
        """Take one trace of ``t.region`` (in time order); the change it confirms, if any."""
        if not t.reached:
            return None
        now = self.current.get(t.region)
        if now is None:
            self.current[t.region] = t
            return None
        if same_route(now, t):
            self.current[t.region] = t  # fresher RTT, same route
            self._candidate.pop(t.region, None)
            return None
        seen = self._candidate.setdefault(t.region, [])
        if seen and not same_route(seen[0], t):
            seen.clear()  # a different new route: start counting again
        seen.append(t)
        if len(seen) < self.confirm:
            return None
        change = RouteChange(t.region, seen[0].time_s, now, t)
        self.current[t.region] = t
        del self._candidate[t.region]
        return change
