"""The evaluator process: InfluxDB in; events, SLA status, alerts and metrics out.

Two loops share one process:

- detection, every ``poll_s``: the ICMP rounds that reached InfluxDB since the last poll go
  through each path's detector (evaluator/detection.py); every path's state is classified
  (correlation/classify.py) and tracked as events (correlation/events.py). An event raised or
  resolved is written to InfluxDB (measurement ``event``) and posted to Alertmanager at once;
  open events are re-posted every ``resend_s`` (evaluator/outbox.py). Then the failover
  engine updates each region's recommendation.
- SLA, every ``sla_interval_s``: statuses per customer, region and cable
  (evaluator/sla_minutes.py, sla/evaluate.py) are written to InfluxDB (measurement ``sla``)
  and exported to Prometheus.

On start, the detectors learn their baselines from the last ``baseline_rounds`` rounds of each
path without raising anything, so a restart neither forgets what normal is nor re-raises old
faults.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from cablewatch.aio import wait_event
from cablewatch.alerting import impact
from cablewatch.alerting.alertmanager import AlertmanagerClient, summary
from cablewatch.collectors.influx import InfluxQL, Writer
from cablewatch.config import Config
from cablewatch.correlation.classify import SCOPES, PathKey, PathStatus, classify
from cablewatch.correlation.events import EventTracker, Transition
from cablewatch.errors import SinkError
from cablewatch.evaluator import reader
from cablewatch.evaluator.detection import Detection
from cablewatch.evaluator.metrics import PATH_STATE, EvaluatorMetrics
from cablewatch.evaluator.outbox import EventRecord, Outbox
from cablewatch.evaluator.points import recommendation_line, sla_line
from cablewatch.evaluator.sla_minutes import SlaMinutes
from cablewatch.failover.engine import FailoverEngine, Recommendation
from cablewatch.failover.score import FIRST_CHOICE_ROUNDS
from cablewatch.sla.evaluate import ANY_CABLE, SlaStatus
from cablewatch.timefmt import utc_iso

__all__ = ["Evaluator"]

log = logging.getLogger("cablewatch.evaluator")


class Evaluator:
    def __init__(
        self,
        config: Config,
        ql: InfluxQL,
        *,
        writer: Writer | None = None,
        alertmanagers: Sequence[AlertmanagerClient] = (),
        metrics: EvaluatorMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.ql = ql
        self.metrics = metrics or EvaluatorMetrics()
        self.clock = clock
        self.detection = Detection(config)
        self.tracker = EventTracker(config.detection.settle_for(config.probe.interval_s))
        self.outbox = Outbox(config, self.metrics, writer, alertmanagers)
        self.sla = SlaMinutes(config, self.detection.detectors)
        self.failover = FailoverEngine(config.failover)
        self.on_recommendation: list[Callable[[Recommendation], None]] = []
        """Called with every new recommendation (the webhooks)."""
        self.last_poll_s: float | None = None
        self.heard_s: dict[str, float] = {}
        """When each region's first round came in."""
        self.burning: set[tuple[str, str]] = set()
        """(customer, region) whose fast burn-rate alert fires, as of the last SLA pass."""
        self.first_choice_wait_s = max(self.detection.stale_s,
                                       FIRST_CHOICE_ROUNDS * config.probe.interval_s)  # fmt: skip
        """How long a region's first choice waits for a cable without enough rounds."""
        self.cable_regions = {c.name: [r.id for r in config.topology.regions if c.name in r.paths]
                              for c in config.topology.cables}  # fmt: skip

    def reconfigure(self, config: Config) -> None:
        """Run with ``config`` from now on (a reload: config/reload.py decides what of a new
        file it holds). Open events, baselines and recommendations are kept."""
        self.config = config
        self.outbox.config = config
        self.sla.config = config

    # -- detection ---------------------------------------------------------------------------

    async def warm_up(self) -> int:
        """Learn the baselines from recent history; returns the rounds read."""
        span_s = (self.config.detection.baseline_rounds * self.config.probe.interval_s
                  + self.detection.stale_s)  # fmt: skip
        rounds = await reader.rounds(self.ql, int((self.clock() - span_s) * 1e9))
        for rnd in rounds:
            self.detection.observe(rnd)
        return len(rounds)

    async def detect(self) -> list[Transition]:
        """One detection pass: read, judge, classify, track; record what changed."""
        now = self.clock()
        rounds = await reader.rounds(self.ql, int((now - self.detection.stale_s) * 1e9))
        self.metrics.last_poll.set(now)
        for rnd in rounds:
            self.detection.observe(rnd)
        self.detection.agree(now)
        self.last_poll_s = now
        status = self.detection.status(now)
        for (region, cable), state in status.items():
            self.metrics.path_state.labels(region, cable).set(PATH_STATE[state])
        settings, station = self.config.detection, self.config.topology.landing_station
        findings = classify(status, station.id, min_regions=settings.min_regions,
                            agreement=settings.agreement, station_name=station.name,
                            landing_points=self.detection.landing_points)  # fmt: skip
        transitions = self.tracker.update(findings, status, now)
        for t in transitions:
            self._record(t, status)
        for rec in self.outbox.records.values():
            if len(rec.event.seen_paths) != rec.evidence_paths:  # the event grew: say so
                rec.evidence = self.detection.evidence(rec.event, summary(rec.event))
                rec.evidence_paths = len(rec.event.seen_paths)
                self.outbox.changed(rec)
        self._recommend(status, now)
        for scope in SCOPES:
            self.metrics.events_open.labels(scope).set(
                sum(1 for e in self.tracker.open.values() if e.scope == scope)
            )
        return transitions

    def _record(self, t: Transition, status: dict[PathKey, PathStatus]) -> None:
        event = t.event
        if t.kind == "raised":
            slas = self.config.slas
            event.customers = impact.customers(event, slas, self.cable_regions)
            event.severity = impact.severity(event, event.customers, slas, status, self.burning)
        evidence = self.detection.evidence(event, summary(event))
        if t.kind == "raised":
            start = self.detection.first_bad_s(event)
            rec = EventRecord(event, start, evidence, evidence_paths=len(event.seen_paths))
            self.outbox.opened(rec)
            self.metrics.events.labels(event.scope).inc()
            log.warning("raised %s %s: %s (started %s)", event.scope, event.subject,
                        evidence["summary"], utc_iso(start))  # fmt: skip
        else:
            rec = self.outbox.closed(event.id, evidence | {"resolved": utc_iso(event.resolved_s)})
            log.warning("resolved %s %s after %.1f s", event.scope, event.subject,
                        (event.resolved_s or 0) - rec.start_s)  # fmt: skip

    def _recommend(self, status: dict[PathKey, PathStatus], now: float) -> None:
        for region in self.config.topology.regions:
            if not self.detection.heard(region.id):
                continue
            heard = self.heard_s.setdefault(region.id, now)
            young = self.detection.young(region.id, FIRST_CHOICE_ROUNDS)
            if young and now - heard < self.first_choice_wait_s:
                continue  # a first choice waits for enough rounds on every cable (or a gap)
            new = self.failover.update(region.id, self.detection.scores(region.id, status), now)
            if new is None:
                continue
            log.info("recommend %s -> %s (%s; version %d)", region.id, new.cable, new.reason,
                     self.failover.version)  # fmt: skip
            self.metrics.recommended.labels(region.id).info({"cable": new.cable})
            self.outbox.queue(recommendation_line(new, self.failover.version))
            for call in self.on_recommendation:
                call(new)

    async def flush(self) -> None:
        await self.outbox.flush(self.clock())

    # -- SLA ---------------------------------------------------------------------------------

    async def evaluate_sla(self, *, write: bool = True) -> list[SlaStatus]:
        """Every policy's status per region (the best cable) and per path, now."""
        now = self.clock()
        out = await self.sla.evaluate(self.ql, now)
        for s in out:
            self.metrics.observe_sla(s)
        self.burning = {(s.customer, s.region) for s in out
                        if s.cable == ANY_CABLE and impact.FAST_BURN in s.alerts}  # fmt: skip
        if write:
            self.outbox.queue(*self.sla.pending, *(sla_line(s, now) for s in out))
        self.sla.pending.clear()
        return out

    # -- the process -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.config.evaluator
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
                 len(self.detection.detectors), len(self.config.slas), n)  # fmt: skip
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
