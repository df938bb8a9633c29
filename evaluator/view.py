"""The evaluator's read model: what the gateway API (and anything else that shows the
evaluator's state) may read, and nothing else. Read-only, computed on demand; one command
passes through: a NOC accepting a baseline shift (``accept_shift``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from cablewatch.correlation.classify import INFO_SCOPES, PathKey, PathStatus
from cablewatch.failover.engine import Recommendation
from cablewatch.failover.score import Score
from cablewatch.sla.evaluate import Minute
from cablewatch.timefmt import utc_iso

if TYPE_CHECKING:
    from cablewatch.config import Config
    from cablewatch.evaluator.service import Evaluator

__all__ = ["EvaluatorView", "OpenEvent"]


@dataclass(frozen=True, slots=True)
class OpenEvent:
    id: str
    scope: str
    subject: str
    cable: str
    started_s: float
    raised_s: float | None
    paths: tuple[PathKey, ...]
    """Every path the event ever held."""

    @property
    def regions(self) -> list[str]:
        return sorted({r for r, _c in self.paths})


class EvaluatorView:
    def __init__(self, evaluator: Evaluator) -> None:
        self._ev = evaluator
        config = evaluator.config
        self.regions = [r.id for r in config.topology.regions]
        self.cables = [c.name for c in config.topology.cables]
        self.window_rounds = config.failover.window_rounds
        self.poll_s = config.evaluator.poll_s
        self.registry: CollectorRegistry = evaluator.metrics.registry
        self.now: Callable[[], float] = evaluator.clock
        self.ql = evaluator.ql
        """For reads the evaluator does not keep (reports)."""

    @property
    def config(self) -> Config:
        """The evaluator's configuration, as of its last reload."""
        return self._ev.config

    @property
    def version(self) -> int:
        """Grows with every change of any region's recommendation."""
        return self._ev.failover.version

    @property
    def last_poll_s(self) -> float | None:
        return self._ev.last_poll_s

    def accept_shift(self, region: str, cable: str) -> str | None:
        """Accept the path's open baseline shift as its new normal; what was resolved, or
        None when none is open (KeyError: no such path)."""
        return self._ev.accept_shift((region, cable))

    def recommendation(self, region: str) -> Recommendation | None:
        return self._ev.failover.current(region)

    def path_states(self) -> dict[PathKey, PathStatus]:
        return self._ev.detection.status(self.now())

    def scores(self, region: str, window_rounds: int | None = None) -> list[Score]:
        return self._ev.detection.scores(region, self.path_states(), window_rounds)

    def open_events(self) -> list[OpenEvent]:
        """Open fault events (route changes, baseline shifts and returns are not faults)."""
        return [
            OpenEvent(r.event.id, r.event.scope, r.event.subject, r.event.cable, r.start_s,
                      r.event.raised_s, tuple(sorted(r.event.seen_paths)))
            for r in self._ev.outbox.records.values()
            if r.event.scope not in INFO_SCOPES
        ]  # fmt: skip

    def route(self, region: str) -> dict[str, Any] | None:
        """The region's service route as last confirmed: its cable, hops, RTT and when."""
        t = self._ev.routes.current.get(region)
        if t is None:
            return None
        return {"cable": t.cable, "hops": list(t.hops), "rtt_ms": t.rtt_ms,
                "traced": utc_iso(t.time_s)}  # fmt: skip

    def minutes(self) -> Mapping[PathKey, Mapping[int, Minute]]:
        """Each path's SLA minutes over the longest SLA period, as of the last SLA pass."""
        return self._ev.sla.minutes
