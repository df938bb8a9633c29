"""The evaluator's detection state: one detector and a round history per path.

Rounds come in from InfluxDB in time order per path; each goes through its path's detector
(correlation/detector.py) and into a short history, from which the failover scores are taken.
A path without a round for ``stale_s`` has no state: a probe gap is never a network fault.
"""

from __future__ import annotations

import collections
import itertools
from typing import Any

from cablewatch.config import Config
from cablewatch.correlation.classify import PathKey, PathStatus
from cablewatch.correlation.detector import PathDetector, Round
from cablewatch.correlation.events import Event
from cablewatch.failover.score import Score, path_stats, score
from cablewatch.timefmt import utc_iso

__all__ = ["Detection"]

_HISTORY = 1000
RoundStats = tuple[int, int, float | None, float | None]
"""(sent, received, median_ms, jitter_ms) of one round."""


class Detection:
    def __init__(self, config: Config) -> None:
        self.config = config
        probe, settings = config.probe, config.detection
        self.stale_s = settings.stale_for(probe.interval_s, probe.timeout_s)
        topology = config.topology
        probed = {(r, t.cable) for t in topology.targets if "icmp" in t.protocols
                  for r in t.regions}  # fmt: skip
        self.detectors = {
            (region.id, cable): PathDetector(path.floor_rtt_ms, settings)
            for region in topology.regions
            for cable, path in region.paths.items()
            if (region.id, cable) in probed
        }
        self.history: dict[PathKey, collections.deque[RoundStats]] = {
            key: collections.deque(maxlen=_HISTORY) for key in self.detectors
        }
        self.region_paths: dict[str, list[PathKey]] = {r.id: [] for r in topology.regions}
        for key in self.detectors:
            self.region_paths[key[0]].append(key)
        self.objective_p95: dict[str, float | None] = {
            r.id: min((p.rtt_p95_ms for p in config.slas if r.id in p.regions), default=None)
            for r in topology.regions
        }

    def observe(self, rnd: Round) -> None:
        """A round the path has not seen yet (rounds come in time order per path)."""
        detector = self.detectors.get((rnd.region, rnd.cable))
        if detector is None or (
            detector.last_time_s is not None and rnd.time_s <= detector.last_time_s
        ):
            return
        detector.observe(rnd)
        self.history[(rnd.region, rnd.cable)].append(
            (rnd.sent, rnd.received, rnd.median_ms, rnd.jitter_ms)
        )

    def status(self, now_s: float) -> dict[PathKey, PathStatus]:
        out: dict[PathKey, PathStatus] = {}
        for key, d in self.detectors.items():
            fresh = d.last_time_s is not None and now_s - d.last_time_s <= self.stale_s
            out[key] = d.state if fresh else "unknown"
        return out

    def young(self, region: str, min_rounds: int) -> bool:
        """Has any of the region's paths fewer than ``min_rounds`` rounds?"""
        return any(len(self.history[key]) < min_rounds for key in self.region_paths[region])

    def scores(
        self, region: str, status: dict[PathKey, PathStatus], window: int | None = None
    ) -> list[Score]:
        """Every cable's failover score for ``region`` over its last ``window`` rounds."""
        failover = self.config.failover
        n = window or failover.window_rounds
        out = []
        for key in self.region_paths[region]:
            history = self.history[key]
            recent = list(itertools.islice(history, max(0, len(history) - n), None))
            d = self.detectors[key]
            stats = path_stats(region, key[1], status[key], d.floor_ms, recent,
                               lossy=d.lossy)  # fmt: skip
            out.append(score(stats, self.objective_p95[region], failover.clean_loss_pct))
        return out

    def first_bad_s(self, event: Event) -> float:
        """When the event's paths turned bad (their first bad round), or when it was seen."""
        starts = [
            d.since_s
            for key in event.seen_paths
            if (d := self.detectors[key]).state == "bad" and d.since_s is not None
        ]
        return min(starts, default=event.first_seen_s)

    def evidence(self, event: Event, summary: str) -> dict[str, Any]:
        """What every path of ``event`` shows: reasons, loss, median, baseline, floor."""
        paths = {}
        for key in sorted(event.seen_paths):
            d = self.detectors[key]
            v = d.last
            paths[f"{key[0]}/{key[1]}"] = {
                "state": d.state,
                "since": utc_iso(d.since_s),
                "reasons": list(v.reasons) if v else [],
                "loss_pct": v.loss_pct if v else None,
                "median_ms": v.median_ms if v else None,
                "baseline_ms": v.baseline_ms if v else None,
                "floor_ms": round(d.floor_ms, 3),
                "stretch": None if v is None or v.stretch is None else round(v.stretch, 3),
            }
        return {"summary": summary, "paths": paths}
