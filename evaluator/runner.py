"""The evaluator process: InfluxDB in; events, SLA status, alerts and metrics out.

Two loops share one process:

- detection, every ``poll_s``: the ICMP rounds that reached InfluxDB since the last poll go
  through each path's detector (correlation/detector.py); every path's state is classified
  (correlation/classify.py) and tracked as events (correlation/events.py). An event raised or
  resolved is written to InfluxDB (measurement ``event``) and posted to Alertmanager at once;
  open events are re-posted every ``resend_s``. A path without a round for ``stale_s`` has no
  state: a probe gap is never a network fault. Failed writes and posts are retried every poll.
- SLA, every ``sla_interval_s``: per-minute packet counts and medians of each path over the
  longest SLA period (loaded once, then refreshed for the last minutes), RTT p95 over each
  policy's objective window; statuses per customer, region and cable (sla/evaluate.py) are
  written to InfluxDB (measurement ``sla``) and exported to Prometheus.

On start, the detectors learn their baselines from the last ``baseline_rounds`` rounds of each
path without raising anything, so a restart neither forgets what normal is nor re-raises old
faults.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from cablewatch.aio import wait_event
from cablewatch.alerting.alertmanager import AlertmanagerClient, alert, summary
from cablewatch.collectors.influx import InfluxQL, SinkError, Writer
from cablewatch.collectors.lineprotocol import event_line, recommendation_line, sla_line
from cablewatch.correlation.classify import SCOPES, PathKey, PathStatus, classify
from cablewatch.correlation.detector import PathDetector, Round
from cablewatch.correlation.events import Event, EventTracker, Transition
from cablewatch.errors import CablewatchError
from cablewatch.evaluator import reader
from cablewatch.evaluator.metrics import PATH_STATE, EvaluatorMetrics
from cablewatch.failover.engine import FailoverEngine, Recommendation
from cablewatch.failover.score import MIN_ROUNDS, Score, path_stats, score
from cablewatch.sla.evaluate import Minute, SlaStatus, evaluate_path, evaluate_region
from cablewatch.topology.model import InfluxSink, Topology

__all__ = ["Evaluator", "running", "serve", "sla_status", "utc_iso"]

log = logging.getLogger("cablewatch.evaluator")
_MAX_PENDING_LINES = 100_000


@dataclass
class _Record:
    """What the evaluator remembers of an event it raised."""

    event: Event
    start_s: float
    evidence: dict[str, Any]
    posted: bool = False
    evidence_paths: int = 0


@dataclass
class _Minutes:
    paths: dict[PathKey, dict[int, Minute]] = field(default_factory=dict)
    loaded_until_ns: int | None = None


def utc_iso(unix_s: float | None) -> str | None:
    """RFC 3339, UTC, milliseconds; None stays None."""
    if unix_s is None:
        return None
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).isoformat(timespec="milliseconds")


class Evaluator:
    def __init__(
        self,
        topology: Topology,
        ql: InfluxQL,
        *,
        writer: Writer | None = None,
        alertmanager: AlertmanagerClient | None = None,
        metrics: EvaluatorMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.topology = topology
        self.ql = ql
        self.writer = writer
        self.alertmanager = alertmanager
        self.metrics = metrics or EvaluatorMetrics()
        self.clock = clock
        probe = topology.probe
        settings = topology.detection
        self.stale_s = settings.stale_for(probe.interval_s, probe.timeout_s)
        self.tracker = EventTracker(settings.settle_for(probe.interval_s))
        probed = {(r, t.cable) for t in topology.targets if "icmp" in t.protocols
                  for r in t.regions}  # fmt: skip
        self.detectors = {
            (region.id, cable): PathDetector(path.floor_rtt_ms, settings)
            for region in topology.regions
            for cable, path in region.paths.items()
            if (region.id, cable) in probed
        }
        self.records: dict[str, _Record] = {}
        self.resolved: list[_Record] = []
        self.pending_lines: list[str] = []
        self.last_post_s = 0.0
        self.minutes = _Minutes()
        self.history: dict[PathKey, collections.deque[tuple[int, int, float | None, float | None]]]
        self.history = {key: collections.deque(maxlen=1000) for key in self.detectors}
        self.region_paths: dict[str, list[PathKey]] = {r.id: [] for r in topology.regions}
        for key in self.detectors:
            self.region_paths[key[0]].append(key)
        self.failover = FailoverEngine(topology.failover)
        self.objective_p95: dict[str, float | None] = {
            r.id: min((p.rtt_p95_ms for p in topology.slas if r.id in p.regions), default=None)
            for r in topology.regions
        }
        self.on_recommendation: list[Callable[[Recommendation], None]] = []
        """Called with every new recommendation (the webhooks)."""
        self.last_poll_s: float | None = None
        self.started_s: float | None = None

    # -- detection ---------------------------------------------------------------------------

    async def warm_up(self) -> int:
        """Learn the baselines from recent history; returns the rounds read."""
        probe = self.topology.probe
        span_s = self.topology.detection.baseline_rounds * probe.interval_s + self.stale_s
        rounds = await reader.rounds(self.ql, int((self.clock() - span_s) * 1e9))
        for rnd in rounds:
            self._observe(rnd)
        return len(rounds)

    def _observe(self, rnd: Round) -> None:
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

    async def detect(self) -> list[Transition]:
        """One detection pass: read, judge, classify, track; record what changed."""
        now = self.clock()
        rounds = await reader.rounds(self.ql, int((now - self.stale_s) * 1e9))
        self.metrics.last_poll.set(now)
        for rnd in rounds:
            self._observe(rnd)
        self.last_poll_s = now
        status = self.status(now)
        for (region, cable), state in status.items():
            self.metrics.path_state.labels(region, cable).set(PATH_STATE[state])
        findings = classify(status, self.topology.landing_station.id,
                            min_regions=self.topology.detection.min_regions)  # fmt: skip
        transitions = self.tracker.update(findings, status, now)
        for t in transitions:
            self._record(t)
        for rec in self.records.values():
            if len(rec.event.seen_paths) != rec.evidence_paths:  # the event grew: say so
                rec.evidence = self._evidence(rec.event)
                rec.evidence_paths = len(rec.event.seen_paths)
                rec.posted = False
                self._store(rec)
        self._recommend(status, now)
        for scope in SCOPES:
            self.metrics.events_open.labels(scope).set(
                sum(1 for e in self.tracker.open.values() if e.scope == scope)
            )
        return transitions

    def scores(
        self, region: str, status: dict[PathKey, PathStatus], window: int | None = None
    ) -> list[Score]:
        """Every cable's failover score for ``region`` over its last ``window`` rounds."""
        n = window or self.topology.failover.window_rounds
        out = []
        for key in self.region_paths[region]:
            history = self.history[key]
            recent = list(itertools.islice(history, max(0, len(history) - n), None))
            d = self.detectors[key]
            stats = path_stats(region, key[1], status[key], d.floor_ms, recent,
                               lossy=d.lossy)  # fmt: skip
            out.append(score(stats, self.objective_p95[region],
                             self.topology.failover.clean_loss_pct))  # fmt: skip
        return out

    def _recommend(self, status: dict[PathKey, PathStatus], now: float) -> None:
        if self.started_s is None:
            self.started_s = now
        for region in self.topology.regions:
            young = any(len(self.history[key]) < MIN_ROUNDS for key in self.region_paths[region.id])
            if young and now - self.started_s < self.stale_s:
                continue  # a first choice waits for every cable's first rounds (or a gap)
            new = self.failover.update(region.id, self.scores(region.id, status), now)
            if new is None:
                continue
            log.info("recommend %s -> %s (%s; version %d)", region.id, new.cable, new.reason,
                     self.failover.version)  # fmt: skip
            self.metrics.recommended.labels(region.id).info({"cable": new.cable})
            self._queue(recommendation_line(new, self.failover.version))
            for call in self.on_recommendation:
                call(new)

    def _evidence(self, event: Event) -> dict[str, Any]:
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
        return {"summary": summary(event), "paths": paths}

    def _record(self, t: Transition) -> None:
        event = t.event
        if t.kind == "raised":
            starts = [
                d.since_s
                for key in event.seen_paths
                if (d := self.detectors[key]).state == "bad" and d.since_s is not None
            ]
            start = min(starts, default=event.first_seen_s)
            rec = _Record(event, start, self._evidence(event), evidence_paths=len(event.seen_paths))
            self.records[event.id] = rec
            self.metrics.events.labels(event.scope).inc()
            log.warning("raised %s %s: %s (started %s)", event.scope, event.subject,
                        rec.evidence["summary"], utc_iso(start))  # fmt: skip
        else:
            rec = self.records.pop(event.id)
            rec.evidence = self._evidence(event) | {"resolved": utc_iso(event.resolved_s)}
            rec.posted = False
            self.resolved.append(rec)
            log.warning("resolved %s %s after %.1f s", event.scope, event.subject,
                        (event.resolved_s or 0) - rec.start_s)  # fmt: skip
        self._store(rec)

    def _store(self, rec: _Record) -> None:
        station = self.topology.landing_station.id
        evidence = json.dumps(rec.evidence, sort_keys=True)
        self._queue(event_line(rec.event, station, rec.start_s, evidence))

    def _queue(self, *lines: str) -> None:
        self.pending_lines.extend(lines)
        if len(self.pending_lines) > _MAX_PENDING_LINES:
            dropped = len(self.pending_lines) - _MAX_PENDING_LINES
            del self.pending_lines[:dropped]
            log.error("InfluxDB unwritable for long: dropped the %d oldest event/SLA points",
                      dropped)  # fmt: skip

    async def flush(self) -> None:
        """Write queued points and post due alerts; failures are kept for the next call."""
        if self.writer is not None and self.pending_lines:
            try:
                await self.writer.write(self.pending_lines)
                self.pending_lines = []
            except SinkError as exc:
                self.metrics.errors.labels("write").inc()
                log.warning("%s; %d points kept for the next try", exc, len(self.pending_lines))
        if self.alertmanager is None:
            self.resolved.clear()
            return
        now = self.clock()
        resend = self.topology.alerting.resend_s
        due = [r for r in self.records.values() if not r.posted or now - self.last_post_s >= resend]
        due += self.resolved
        if not due:
            return
        body = [
            alert(r.event, station=self.topology.landing_station.id, policies=self.topology.slas,
                  evidence=r.evidence, now_s=now, resend_s=resend)
            for r in due
        ]  # fmt: skip
        try:
            await self.alertmanager.post(body)
        except CablewatchError as exc:
            self.metrics.errors.labels("alert").inc()
            log.warning("%s; %d alerts kept for the next try", exc, len(body))
            return
        for r in due:
            r.posted = True
        self.resolved.clear()
        if any(r.event.resolved_s is None for r in due):
            self.last_post_s = now

    # -- SLA ---------------------------------------------------------------------------------

    async def _refresh_minutes(self, end_ns: int) -> None:
        policies = self.topology.slas
        if not policies:
            return
        period_s = max(p.period_days for p in policies) * 86400
        start_ns = end_ns - period_s * 10**9
        loaded = self.minutes.loaded_until_ns
        # after the first load, re-read the last 10 minutes: late points (a spool draining)
        begin = start_ns if loaded is None else max(start_ns, loaded - 600 * 10**9)
        day = 86400 * 10**9
        chunk = begin
        while chunk < end_ns:
            upto = min(chunk + day, end_ns)
            for key, minutes in (await reader.minutes(self.ql, chunk, upto)).items():
                self.minutes.paths.setdefault(key, {}).update(minutes)
            chunk = upto
        first = start_ns // 10**9
        for minutes in self.minutes.paths.values():
            for old in [s for s in minutes if s < first]:
                del minutes[old]
        self.minutes.loaded_until_ns = end_ns

    async def evaluate_sla(self, *, write: bool = True) -> list[SlaStatus]:
        """Every policy's status per region (the best cable) and per path, now."""
        now = self.clock()
        end_ns = int(now // 60 * 60) * 10**9
        await self._refresh_minutes(end_ns)
        p95: dict[int, dict[PathKey, float]] = {}
        for policy in self.topology.slas:
            w = policy.objective_window_s
            if w not in p95:
                p95[w] = await reader.rtt_p95(self.ql, end_ns - w * 10**9, end_ns)
        out: list[SlaStatus] = []
        for policy in self.topology.slas:
            for region in policy.regions:
                cables = [c for c in policy.cables if (region, c) in self.detectors]
                paths = {c: self.minutes.paths.get((region, c), {}) for c in cables}
                rtts = {c: p95[policy.objective_window_s].get((region, c)) for c in cables}
                out.append(evaluate_region(policy, region, paths, now, rtts))
                out += [evaluate_path(policy, region, c, paths[c], now, rtts[c]) for c in cables]
        for s in out:
            self.metrics.observe_sla(s)
        if write:
            self._queue(*(sla_line(s, now) for s in out))
        return out

    # -- the process -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.topology.evaluator
        while not stop.is_set():
            try:
                n = await self.warm_up()
                break
            except SinkError as exc:
                self.metrics.errors.labels("read").inc()
                log.warning("%s; retrying in 5 s", exc)
                await wait_event(stop, 5.0)
        else:
            return
        log.info("evaluator: %d paths, %d SLA policies; baselines from %d rounds",
                 len(self.detectors), len(self.topology.slas), n)  # fmt: skip
        sla = asyncio.create_task(self._sla_loop(stop, settings.sla_interval_s))
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                started = loop.time()
                try:
                    await self.detect()
                except SinkError as exc:
                    self.metrics.errors.labels("read").inc()
                    log.warning("%s", exc)
                await self.flush()
                await wait_event(stop, max(0.0, settings.poll_s - (loop.time() - started)))
        finally:
            await sla
            await self.flush()

    async def _sla_loop(self, stop: asyncio.Event, interval_s: float) -> None:
        while not stop.is_set():
            try:
                await self.evaluate_sla()
            except SinkError as exc:
                self.metrics.errors.labels("read").inc()
                log.warning("SLA evaluation: %s", exc)
            await wait_event(stop, interval_s)


def _sink(topology: Topology) -> InfluxSink:
    sink = topology.sinks.influxdb
    if sink is None:
        raise CablewatchError(f"{topology.source}: no [sinks.influxdb] section: the evaluator "
                              "reads the agents' results from it")  # fmt: skip
    return sink


@contextlib.asynccontextmanager
async def running(
    topology: Topology, listen: tuple[str, int] | None
) -> AsyncIterator[tuple[Evaluator, asyncio.Event]]:
    """An evaluator wired to the configuration's InfluxDB and Alertmanager, its metrics served
    on ``listen``, and an event that SIGTERM / SIGINT set; closes its clients on exit."""
    import signal

    from cablewatch.collectors.influx import writer_for

    sink = _sink(topology)
    ql = InfluxQL(sink)
    writer = writer_for(sink)
    url = topology.alerting.alertmanager_url
    am = AlertmanagerClient(url) if url else None
    metrics = EvaluatorMetrics()
    if listen is not None:
        metrics.serve(*listen)
        log.info("metrics on http://%s:%d/metrics", *listen)
    if am is None:
        log.info("no [alerting] alertmanager_url: events are stored, not posted")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield Evaluator(topology, ql, writer=writer, alertmanager=am, metrics=metrics), stop
    finally:
        await ql.close()
        await writer.close()
        if am is not None:
            await am.close()


async def serve(topology: Topology, listen: tuple[str, int] | None) -> None:
    """``cablewatch evaluate``: until SIGTERM / SIGINT."""
    async with running(topology, listen) as (evaluator, stop):
        await evaluator.run(stop)


async def sla_status(topology: Topology) -> list[SlaStatus]:
    """``cablewatch sla status``: every policy's status now, read-only."""
    ql = InfluxQL(_sink(topology))
    try:
        return await Evaluator(topology, ql).evaluate_sla(write=False)
    finally:
        await ql.close()
