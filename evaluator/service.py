"""The evaluator process: InfluxDB in; events, SLA status, alerts and metrics out.

Two loops share one process:

- detection, every ``poll_s``: the ICMP rounds that reached InfluxDB since the last poll go
  through each path's detector (evaluator/detection.py); every path's state is classified
  (correlation/classify.py) and tracked as events (correlation/events.py). An event raised or
  resolved is written to InfluxDB (measurement ``event``) and posted to Alertmanager at once;
  open events are re-posted every ``resend_s`` (evaluator/outbox.py). Then the failover
  engine updates each region's recommendation.
- routes, in the same pass: new traces of each region's service path go through the route
  tracker (correlation/routes.py). A confirmed change that a fault event explains (it left
  the faulty cable while the event was open, or came back to it after the repair) joins that
  event's evidence, and its alert is posted again (one alert, not one per region); any other
  is an info event of its own (alert ``CablewatchRouteChange``), open for ``route_hold_s``.
  Each change is written to InfluxDB (measurement ``route_change``).
- returns, before classification: the cable each path's replies come back over, as STAMP
  rounds name it (evaluator/returns.py): an info event per region while any of its paths is
  asymmetric ("singapore: out over ADC, back over SJC"), measurement ``return_path``; and a
  bad path whose replies come back over a cable its region is bad on too is that cable's
  victim in the classification (correlation/classify.py).
- SLA, every ``sla_interval_s`` (every 5 s until the first figures exist): statuses per
  customer, region and cable
  (evaluator/sla_minutes.py, sla/evaluate.py) are written to InfluxDB (measurement ``sla``)
  and exported to Prometheus.

On start, the detectors learn their baselines from the last ``baseline_rounds`` rounds of each
path without raising anything, so a restart neither forgets what normal is nor re-raises old
faults.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cablewatch.aio import wait_event
from cablewatch.alerting import impact
from cablewatch.alerting.alertmanager import AlertmanagerClient, summary
from cablewatch.bus.tenure import Tenure
from cablewatch.collectors.influx import InfluxQL, Writer
from cablewatch.collectors.read.rounds import service_traces
from cablewatch.config import Config
from cablewatch.correlation.classify import (
    INFO_SCOPES,
    SCOPES,
    PathKey,
    PathStatus,
    classify,
)
from cablewatch.correlation.events import Event, EventTracker, Transition
from cablewatch.correlation.routes import RouteChange, RouteTracker
from cablewatch.correlation.shift import ShiftChange
from cablewatch.errors import SinkError
from cablewatch.evaluator.detection import Detection
from cablewatch.evaluator.metrics import PATH_STATE, EvaluatorMetrics
from cablewatch.evaluator.outbox import EventRecord, Outbox
from cablewatch.evaluator.points import (
    recommendation_line,
    route_change_line,
    shift_line,
    sla_line,
)
from cablewatch.evaluator.record import InputRecord
from cablewatch.evaluator.returns import ReturnWatch
from cablewatch.evaluator.settings import tracker_window_ns
from cablewatch.evaluator.shifts import ShiftWatch, describe
from cablewatch.evaluator.sla_minutes import SlaMinutes
from cablewatch.evaluator.source import Polled, RoundSource
from cablewatch.evaluator.source_influx import InfluxRounds
from cablewatch.failover.engine import FailoverEngine, Recommendation
from cablewatch.failover.score import FIRST_CHOICE_ROUNDS
from cablewatch.probes import traceroute
from cablewatch.sla.evaluate import ANY_CABLE, SlaStatus
from cablewatch.timefmt import utc_iso

__all__ = ["Evaluator"]

log = logging.getLogger("cablewatch.evaluator")
FIRST_FIGURES_S = 5.0
"""The SLA pass's interval until it has a figure (then ``sla_interval_s``)."""
VERSION_STRIDE = 1_000_000
"""Fenced ([bus]), a tenure's recommendation versions start at its token times this: each
tenure's token is larger than every revision of the lease before it (a renewal is one), so
versions only grow across holders as long as a holder makes fewer than this many between
two renewals (at most a region a pass)."""


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
        source: RoundSource | None = None,
    ) -> None:
        self.config = config
        self.ql = ql
        self.metrics = metrics or EvaluatorMetrics()
        self.clock = clock
        self.detection = Detection(config)
        self.source: RoundSource = source or InfluxRounds(
            ql, self.detection.detectors, due_s=self.detection.due_s(config.evaluator.poll_s),
            lookback_s=self.detection.stale_s)  # fmt: skip
        """Where the rounds come from (detection does not know)."""
        self.tracker = EventTracker(config.detection.settle_for(config.probe.interval_s))
        self.outbox = Outbox(config, self.metrics, writer, alertmanagers)
        self.sla = SlaMinutes(config, self.detection.detectors)
        self.shifts = ShiftWatch(config, self.detection)
        self.shift_events: dict[PathKey, EventRecord] = {}
        """Open baseline-shift events, by path."""
        self.failover = FailoverEngine(config.failover)
        self.on_recommendation: list[Callable[[Recommendation, int], None]] = []
        """Called with every new recommendation and its version (the webhooks), once its
        point is written (or would have been: no InfluxDB); fenced, by the holder only."""
        self._announce: list[tuple[Recommendation, int]] = []
        """New recommendations of this pass, for the callbacks after the flush."""
        self.last_poll_s: float | None = None
        self.heard_s: dict[str, float] = {}
        """When each region's first round came in."""
        self.burning: set[tuple[str, str]] = set()
        """(customer, region) whose fast burn-rate alert fires, as of the last SLA pass."""
        self.first_choice_wait_s = max(self.detection.stale_s,
                                       FIRST_CHOICE_ROUNDS * config.probe.interval_s)  # fmt: skip
        """How long a region's first choice waits for a cable without enough rounds."""
        self.routes = RouteTracker(config.evaluator.route_confirm_traces)
        self.route_events: dict[str, EventRecord] = {}
        """Open route-change events, by region."""
        self.faults_resolved: list[EventRecord] = []
        """Fault events resolved within route_hold_s: route changes back may still join them."""
        self._trace_seen_s: dict[str, float] = {}
        self.returns = ReturnWatch(config, ql, self.outbox)
        self.cable_regions = {c.name: [r.id for r in config.topology.regions if c.name in r.paths]
                              for c in config.topology.cables}  # fmt: skip
        self._said_ahead: set[str] = set()
        self._states: dict[PathKey, PathStatus] = {}
        """Each path's state as last exported."""
        self._said_behind: set[PathKey] = set()
        self.tenure: Tenure | None = None
        """[bus]: the station's lease, as this instance holds it or stands by for it."""
        self._reconciled = True
        """Fenced: this tenure's recommendations checked against the system of record."""
        where = config.evaluator.record_inputs
        self.record = InputRecord(Path(where)) if where else None
        """Every round each detection pass took, as read ([evaluator] record_inputs)."""

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
        now = self.clock()
        found = 0
        async for batch in self.source.history(now - span_s, now):
            for rnd in batch:
                self.detection.observe(rnd)
            self.shifts.observe(batch)  # learn the baselines; nothing is raised
            found += len(batch)
            await asyncio.sleep(0)  # a long history parses in many steps, not one
        for t in await service_traces(self.ql, self._trace_window_ns(self.clock())):
            self._trace_seen_s[t.region] = t.time_s
            self.routes.observe(t)  # learn each region's route; nothing is raised
        await self.returns.learn(self.clock())
        return found

    @staticmethod
    def tune_gc() -> None:
        """For the evaluator's process, once warmed up: what exists then lives as long as the
        process (a detector a path, its history), so the garbage collector need not walk it
        at every full collection, and a pass's short-lived rows need not be promoted (at
        27,000 paths: 0.2 s of collection nearly every pass before, 0.02-0.06 s after)."""
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)

    def _trace_window_ns(self, now_s: float) -> int:
        return tracker_window_ns(now_s, self.config.probe.protocols[traceroute.SPEC.protocol]
                                 .interval_s)  # fmt: skip

    async def detect(self) -> list[Transition]:
        """One detection pass: read, judge, classify, track; record what changed."""
        now = self.clock()
        before = self.outbox.token
        token = self.outbox.begin()  # the lease's token this pass (None: unfenced, standby)
        if token is not None and token != before:  # a tenure of our own begins
            self.failover.version = max(self.failover.version, token * VERSION_STRIDE)
            self._reconciled = False
        polled = await self.source.poll(now)
        self.metrics.last_poll.set(now)
        taken = [rnd for rnd in polled.rounds if self.detection.observe(rnd)]
        self._say(polled)
        for key, change in self.shifts.observe(taken):
            self._shift(key, change, now)
        if self.record is not None:
            self.record.write(now, taken)
        self.detection.agree(now)
        self.last_poll_s = now
        status = self.detection.status(now)
        for key, state in status.items():
            if self._states.get(key) != state:  # (labels() is slow at 27,000 paths a pass)
                self.metrics.path_state.labels(*key).set(PATH_STATE[state])
                self._states[key] = state
        settings, station = self.config.detection, self.config.topology.landing_station
        await self.returns.update(now)  # which cable each path's replies come back over
        findings = classify(status, station.id, min_regions=settings.min_regions,
                            agreement=settings.agreement, station_name=station.name,
                            landing_points=self.detection.landing_points,
                            returns=self.returns.tracker.current)  # fmt: skip
        transitions = self.tracker.update(findings, status, now)
        for t in transitions:
            self._record(t, status)
        for rec in self.outbox.records.values():
            if len(rec.event.seen_paths) != rec.evidence_paths:  # the event grew: say so
                rec.evidence = self.detection.evidence(rec.event, summary(rec.event))
                rec.evidence_paths = len(rec.event.seen_paths)
                self.outbox.changed(rec)
        self._recommend(status, now)
        if self.outbox.token is not None and not self._reconciled:
            await self._reconcile()
        await self._routes(now)
        for scope in SCOPES:
            self.metrics.events_open.labels(scope).set(
                sum(1 for e in self.tracker.open.values() if e.scope == scope)
            )
        return transitions

    def _say(self, polled: Polled) -> None:
        """Say once, while it lasts, which regions have rounds stamped more than FUTURE_S ahead
        of this clock (an agent's clock running ahead: held until their time; judged now,
        they would put their path ahead of its own later rounds) and which paths have rounds
        stamped before their last judged one (a clock stepped back: never judged)."""
        for region, by in polled.ahead_s.items():
            if region not in self._said_ahead:
                log.warning("%s: rounds stamped up to %.0f s ahead of this clock (its agent's "
                            "clock runs ahead?): held until their time, stored as stamped",
                            region, by)  # fmt: skip
        self._said_ahead = set(polled.ahead_s)
        for key in polled.behind - self._said_behind:
            log.warning("%s/%s: rounds stamped before the last one judged (its agent's clock "
                        "stepped back?): not judged until they are newer", *key)  # fmt: skip
        self._said_behind = polled.behind

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
            old = self.outbox.records[event.id].evidence.get("route_changes")
            rec = self.outbox.closed(event.id, evidence | {"resolved": utc_iso(event.resolved_s)}
                                     | ({"route_changes": old} if old else {}))  # fmt: skip
            self.faults_resolved.append(rec)
            log.warning("resolved %s %s after %.1f s", event.scope, event.subject,
                        (event.resolved_s or 0) - rec.start_s)  # fmt: skip

    # -- routes ------------------------------------------------------------------------------

    async def _routes(self, now: float) -> None:
        """Feed new service-path traces to the route tracker; record what changed."""
        hold = self.config.evaluator.route_hold_s
        self.faults_resolved = [r for r in self.faults_resolved
                                if now - (r.event.resolved_s or now) <= hold]  # fmt: skip
        for region, rec in list(self.route_events.items()):
            if now - rec.start_s > hold:
                rec.event.resolved_s = now
                self.outbox.closed(rec.event.id, rec.evidence)
                del self.route_events[region]
        for t in await service_traces(self.ql, self._trace_window_ns(now)):
            if t.time_s <= self._trace_seen_s.get(t.region, 0.0):
                continue
            self._trace_seen_s[t.region] = t.time_s
            change = self.routes.observe(t)
            if change is not None:
                self._route_change(change, now)

    def _explained_by(self, change: RouteChange) -> EventRecord | None:
        """The fault event that explains ``change``: the route left the event's cable while the
        event was open, or came back to it within route_hold_s of its repair."""
        margin = self.config.probe.protocols[traceroute.SPEC.protocol].interval_s
        hold = self.config.evaluator.route_hold_s
        for rec in [*self.outbox.records.values(), *reversed(self.faults_resolved)]:
            ev = rec.event
            if ev.scope in (*INFO_SCOPES, "probe") or not ev.cable:
                continue
            end = ev.resolved_s
            left = (change.before.cable == ev.cable and change.time_s >= rec.start_s - margin
                    and (end is None or change.time_s <= end + margin))  # fmt: skip
            back = (end is not None and change.after.cable == ev.cable
                    and end - margin <= change.time_s <= end + hold)  # fmt: skip
            if left or back:
                return rec
        return None

    def _route_change(self, change: RouteChange, now: float) -> None:
        station = self.config.topology.landing_station.id
        cause = self._explained_by(change)
        self.outbox.queue(route_change_line(change, station, cause.event.id if cause else ""))
        self.metrics.route_changes.labels(change.region).inc()
        if cause is not None:
            cause.evidence.setdefault("route_changes", []).append(change.to_dict())
            if cause.event.resolved_s is None:
                self.outbox.changed(cause)  # the same alert, posted again with the change
            else:
                self.outbox.store(cause)  # its point, rewritten with the change
            log.info("%s (part of %s)", change.summary, cause.event.id)
            return
        old = self.route_events.pop(change.region, None)
        if old is not None:  # a newer change of the same region replaces the open one
            old.event.resolved_s = now
            self.outbox.closed(old.event.id, old.evidence)
        # Labels name the move (subject "jakarta ADC->SJC", cable: the new one): when a newer
        # change replaces this one, the resolution and the new alert reach Alertmanager in one
        # post, and alerts with the same labels would be one alert, resolved.
        subject = f"{change.region} {change.before.cable}->{change.after.cable}"
        event = Event("route", subject, change.after.cable, change.region, change.time_s,
                      raised_s=now, severity="info", note=change.summary)  # fmt: skip
        rec = EventRecord(event, change.time_s, {"summary": change.summary} | change.to_dict())
        self.outbox.opened(rec)
        self.route_events[change.region] = rec
        log.warning("raised route %s: %s", change.region, change.summary)

    def accept_shift(self, key: PathKey) -> str | None:
        """A NOC accepts the path's open baseline shift: its level is the baseline from now on
        and the event resolves ("accepted"). Returns what was resolved; None when the path
        has no open shift; KeyError for a path not in the topology."""
        change = self.shifts.paths[key].accept()
        if change is None:
            return None
        return self._shift(key, change, self.clock())

    def _shift(self, key: PathKey, change: ShiftChange, now: float) -> str:
        """A baseline shift raised or resolved: an info event of its own, joined to the route
        change of its region that began within a route_hold_s of it. Returns its summary."""
        route = self.route_events.get(key[0])
        hold = self.config.evaluator.route_hold_s
        why = (route.event.note if route is not None and abs(route.start_s - change.since_s)
               <= hold else None)  # fmt: skip
        text = describe(key, change, why)
        station = self.config.topology.landing_station.id
        self.outbox.queue(shift_line(key, change, station, text))
        if change.kind == "raised":
            event = Event("shift", f"{key[0]}/{key[1]}", key[1], key[0], change.since_s,
                          raised_s=now, severity="info", note=text)  # fmt: skip
            rec = EventRecord(
                event, change.since_s, {"summary": text, "delta_ms": round(change.delta_ms, 3)}
            )
            self.outbox.opened(rec)
            self.shift_events[key] = rec
            log.warning("raised shift %s", text)
            return text
        opened = self.shift_events.pop(key, None)
        if opened is None:  # raised before a restart: its point above says it resolved
            return text
        opened.event.resolved_s, opened.event.note = now, text
        self.outbox.closed(opened.event.id, opened.evidence | {"summary": text})
        log.warning("resolved shift %s", text)
        return text

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
            if not self.outbox.writing():
                continue  # a standby: the holder of the station's lease tells the world
            self.outbox.queue(recommendation_line(new, self.failover.version, self.outbox.token))
            self._announce.append((new, self.failover.version))

    async def _reconcile(self) -> None:
        """A tenure of our own began: each region's last recommendation in the system of record
        against ours. Where the cable differs, or there is none (the previous holder died before
        writing a change; this instance made a region's first choice while standing by, as the
        first holder does when its claim lands in the middle of its first pass), ours is written
        and announced, with a version of this tenure. Until InfluxDB answers, every pass."""
        try:
            series = await self.ql.query(
                "SELECT last(cable_name) FROM recommendation GROUP BY region"
            )
        except SinkError as exc:
            log.warning("recommendations not checked against InfluxDB yet (%s): next pass", exc)
            return
        stored = {s["tags"]["region"]: s["values"][0][1] for s in series if s.get("values")}
        fixed, this_pass = [], {rec.region for rec, _v in self._announce}
        for region in self.config.topology.regions:
            cur = self.failover.current(region.id)
            if cur is None or stored.get(region.id) == cur.cable or region.id in this_pass:
                continue
            self.failover.version += 1
            self.outbox.queue(recommendation_line(cur, self.failover.version, self.outbox.token))
            self._announce.append((cur, self.failover.version))
            fixed.append(region.id)
        self._reconciled = True
        if fixed:
            log.warning("took over with %d regions' recommendations not in InfluxDB (%s%s): "
                        "written and announced", len(fixed), ", ".join(fixed[:5]),
                        ", ..." if len(fixed) > 5 else "")  # fmt: skip

    async def flush(self) -> None:
        """Write and post what the pass queued; then tell the callbacks of its new
        recommendations, unless the lease lapsed meanwhile (its points were dropped: the
        webhooks would announce what the system of record never holds)."""
        await self.outbox.flush(self.clock())
        announce, self._announce = self._announce, []
        if not self.outbox.writing():
            return
        for rec, version in announce:
            for call in self.on_recommendation:
                call(rec, version)

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
            self.outbox.queue_rollups(*self.sla.pending)
            self.outbox.queue(*(sla_line(s, now) for s in out))
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
        self.tune_gc()
        if self.tenure is not None:  # warmed up: it may hold the station now
            self.tenure.ready.set()
        sla = asyncio.create_task(self._sla_loop(stop, settings.sla_interval_s))
        loop = asyncio.get_running_loop()
        failed = 0
        try:
            while not stop.is_set():
                started = loop.time()
                try:
                    await self.detect()
                    if failed:  # a state change: said once, as the failure was
                        log.warning("InfluxDB answers again after %d failed polls", failed)
                        failed = 0
                except SinkError as exc:
                    self.metrics.errors.labels("read").inc()
                    failed += 1
                    if failed == 1:  # once, not at every poll while it lasts
                        log.warning("%s; polling on every %g s", exc, settings.poll_s)
                await self.flush()
                await wait_event(stop, max(0.0, settings.poll_s - (loop.time() - started)))
        finally:
            await sla
            await self.flush()
            if self.record is not None:
                self.record.close()

    async def _sla_loop(self, stop: asyncio.Event, interval_s: float) -> None:
        """An SLA pass every ``interval_s``; until the first figures exist (a fresh install,
        before the agents' first rounds are stored), every FIRST_FIGURES_S, so that the SLA
        dashboard and `sla status` have figures seconds after the first round, not a pass
        later."""
        figures = False
        while not stop.is_set():
            try:
                out = await self.evaluate_sla()
                figures = figures or any(s.availability_pct is not None for s in out)
            except SinkError as exc:
                self.metrics.errors.labels("read").inc()
                log.warning("SLA evaluation: %s", exc)
            await wait_event(stop, interval_s if figures else min(interval_s, FIRST_FIGURES_S))
