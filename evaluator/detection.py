"""The evaluator's detection state: one detector and a round history per path.

Rounds come in from InfluxDB in time order per path; each goes through its path's detector
(correlation/detector.py) and into a short history, from which the failover scores are taken
(loss over the window; RTT over the rounds since the path's state last changed, at most the
window: a step in latency shows in the score within a few rounds, not after half a window).
A path without a round for ``stale_s`` has no state: a probe gap is never a network fault.

Multi-vantage evidence: when more than ``agreement`` of a cable's regions (and at least
``min_regions``) lost every packet of their latest round, within one probe interval of each
other, their loss tests turn bad at once, and so do those of the cable's regions whose latest
round lost part of its packets (the failure began mid-round): many vantage points agreeing on
one round is stronger evidence than more rounds of one path.
"""

from __future__ import annotations

from typing import Any

from cablewatch.config import Config
from cablewatch.correlation.classify import PathKey, PathStatus
from cablewatch.correlation.detector import PathDetector, Round
from cablewatch.correlation.events import Event
from cablewatch.evaluator.history import RoundHistory
from cablewatch.failover.score import MIN_ROUNDS, PathStats, Score, column_stats, score
from cablewatch.probes import icmp
from cablewatch.timefmt import utc_iso

__all__ = ["Detection"]

_HISTORY = 1000


class Detection:
    def __init__(self, config: Config) -> None:
        self.config = config
        probe, settings = config.probe, config.detection
        self.stale_s = settings.stale_for(probe.interval_s, probe.timeout_s)
        topology = config.topology
        probed = {(r, t.cable) for t in topology.targets if icmp.SPEC.protocol in t.protocols
                  for r in t.regions}  # fmt: skip
        self.detectors = {
            (region.id, cable): PathDetector(path.floor_rtt_ms, settings)
            for region in topology.regions
            for cable, path in region.paths.items()
            if (region.id, cable) in probed
        }
        self.history = {key: RoundHistory(_HISTORY) for key in self.detectors}
        """Each path's last rounds, and when each started."""
        self.region_paths: dict[str, list[PathKey]] = {r.id: [] for r in topology.regions}
        self.cable_paths: dict[str, list[PathKey]] = {c.name: [] for c in topology.cables}
        for key in self.detectors:
            self.region_paths[key[0]].append(key)
            self.cable_paths[key[1]].append(key)
        self.landing_points = {
            (region.id, cable): path.landing_point
            for region in topology.regions
            for cable, path in region.paths.items()
            if path.landing_point
        }
        self.objective_p95: dict[str, float | None] = {
            r.id: min((p.rtt_p95_ms for p in config.slas if r.id in p.regions), default=None)
            for r in topology.regions
        }

    def due_s(self, poll_s: float) -> float:
        """How long after a path's newest round its next one is readable at the latest: a
        round's interval and duration, the agent's flush, one poll, and a second's margin."""
        config = self.config
        s = config.probe.of(icmp.IcmpSettings)
        round_s = (s.packets - 1) * s.packet_interval_s + s.timeout_s
        sink = config.sinks.influxdb
        flush_s = sink.flush_interval_s if sink is not None else 1.0
        return s.interval_s + round_s + flush_s + poll_s + 1.0

    def observe(self, rnd: Round) -> bool:
        """A round the path has not seen yet (rounds come in time order per path); whether it
        was taken (False: an unknown path, or a round not newer than the path's last)."""
        detector = self.detectors.get((rnd.region, rnd.cable))
        if detector is None or (
            detector.last_time_s is not None and rnd.time_s <= detector.last_time_s
        ):
            return False
        detector.observe(rnd)
        self.history[(rnd.region, rnd.cable)].append(
            (rnd.sent, rnd.received, rnd.median_ms, rnd.jitter_ms), rnd.time_s
        )
        return True

    def agree(self, now_s: float) -> list[PathKey]:
        """Apply the multi-vantage rule (see the module); the paths it turned bad."""
        settings = self.config.detection
        interval = self.config.probe.interval_s
        status = self.status(now_s)
        turned: list[PathKey] = []
        for keys in self.cable_paths.values():
            known = [k for k in keys if status[k] != "unknown"]
            lost = [k for k in known if (v := self.detectors[k].last) and v.loss_pct >= 100.0]
            if not lost:
                continue
            newest = max(self.detectors[k].last_time_s or 0.0 for k in lost)

            def recent(k: PathKey, since: float = newest - interval) -> bool:
                return (self.detectors[k].last_time_s or 0.0) >= since

            lost = [k for k in lost if recent(k)]
            if len(lost) >= settings.min_regions and len(lost) > settings.agreement * len(known):
                # the cable failed: a region whose latest round lost part of its packets saw
                # the same failure begin mid-round
                hit = [k for k in known if recent(k) and (v := self.detectors[k].last)
                       and v.loss_pct > 0.0]  # fmt: skip
                turned += [k for k in hit if self.detectors[k].agree_lost(now_s) is not None]
        return turned

    def status(self, now_s: float) -> dict[PathKey, PathStatus]:
        out: dict[PathKey, PathStatus] = {}
        for key, d in self.detectors.items():
            fresh = d.last_time_s is not None and now_s - d.last_time_s <= self.stale_s
            out[key] = d.state if fresh else "unknown"
        return out

    def heard(self, region: str) -> bool:
        """Has any of the region's paths a round?"""
        return any(self.history[key] for key in self.region_paths[region])

    def young(self, region: str, min_rounds: int) -> bool:
        """Has any of the region's paths fewer than ``min_rounds`` rounds?"""
        return any(len(self.history[key]) < min_rounds for key in self.region_paths[region])

    def scores(
        self, region: str, status: dict[PathKey, PathStatus], window: int | None = None
    ) -> list[Score]:
        """Every cable's failover score for ``region`` over its last ``window`` rounds."""
        failover = self.config.failover
        return [score(self.stats(key, status[key], window), self.objective_p95[region],
                      failover.clean_loss_pct, failover.window_rounds)
                for key in self.region_paths[region]]  # fmt: skip

    def stats(self, key: PathKey, state: PathStatus, window: int | None = None) -> PathStats:
        """The path's statistics over its last ``window`` rounds (default: the failover
        window; RTT over the rounds since its state changed) and the span they cover."""
        history, d = self.history[key], self.detectors[key]
        sent, received, medians, jitters = history.columns(
            window or self.config.failover.window_rounds
        )
        span = (history.time(-len(sent)), history.time(-1)) if sent else None
        regime = None if window else max(MIN_ROUNDS, d.rounds_in_state)
        return column_stats(key[0], key[1], state, d.floor_ms, sent, received, medians, jitters,
                            lossy=d.lossy, latency_rounds=regime, span_s=span)  # fmt: skip

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
                "loss_evidence": v.loss_evidence if v else None,
                "window": self.stats(key, d.state).window(),
            }
        affected = sorted({r for r, _c in event.seen_paths})
        return {"summary": summary, "paths": paths, "regions_affected": len(affected),
                "regions_healthy": len(event.healthy), "healthy": list(event.healthy),
                "severity": event.severity, "customers": list(event.customers)}  # fmt: skip
