"""What the evaluator owes the outside world: points to write to InfluxDB and alerts to post
to Alertmanager. Both are kept until they are taken, and retried on every flush.

- Points (events, SLA status, recommendations) queue up to ``MAX_PENDING_LINES``; beyond
  that the oldest are dropped, with an error in the log.
- Every open event has a record: posted when raised or grown, re-posted every ``resend_s``
  with ``endsAt`` ahead, and once more when resolved (``endsAt`` = then).
- Alerts go to every Alertmanager replica (a gossip cluster deduplicates the notifications),
  each with its own bookkeeping: a replica that is down gets what it missed when it is back,
  and does not hold back the others. A resolution a replica never took is dropped after
  4 x ``resend_s``: by then the replica has let the alert expire by itself (its ``endsAt``).
- Fenced (``[bus]``: several evaluators of one landing station, bus/tenure.py): only the
  holder of the station's lease writes and posts, and every event point and alert carries its
  token (``lease_token``). A standby evaluates as the holder does and keeps its open events,
  but drops its points and posts nothing; on taking the lease over it writes every open event
  again and posts it (the same point and the same alert: its tags and labels are the
  fault's, not the instance's). A holder whose lease lapsed drops what it had queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cablewatch.alerting.alertmanager import AlertmanagerClient, alert
from cablewatch.collectors.influx import Writer
from cablewatch.config import Config
from cablewatch.correlation.classify import INFO_SCOPES
from cablewatch.correlation.events import Event
from cablewatch.errors import CablewatchError, SinkError
from cablewatch.evaluator.metrics import EvaluatorMetrics
from cablewatch.evaluator.points import event_line

__all__ = ["MAX_PENDING_LINES", "EventRecord", "Outbox"]

log = logging.getLogger("cablewatch.evaluator")
MAX_PENDING_LINES = 100_000


@dataclass
class EventRecord:
    """What the evaluator remembers of an event it raised."""

    event: Event
    start_s: float
    evidence: dict[str, Any]
    evidence_paths: int = 0


@dataclass
class _Replica:
    """One Alertmanager, and what it has been told."""

    client: AlertmanagerClient
    posted: set[str] = field(default_factory=set)
    """Open events whose latest state this replica took."""
    resolved: list[EventRecord] = field(default_factory=list)
    """Resolved events whose resolution it has not taken yet."""
    last_post_s: float = 0.0
    failing: bool = False
    """Its last post failed (logged once, when it starts failing; again when it is back)."""


class Outbox:
    def __init__(
        self,
        config: Config,
        metrics: EvaluatorMetrics,
        writer: Writer | None,
        alertmanagers: Sequence[AlertmanagerClient] = (),
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.writer = writer
        self.replicas = [_Replica(am) for am in alertmanagers]
        self.pending_lines: list[str] = []
        self.pending_rollups: list[str] = []
        """1-minute rollups, for their own retention policy."""
        self.records: dict[str, EventRecord] = {}
        """Open events, by id."""
        self.flushing = asyncio.Lock()
        """One flush at a time: batches are written in the order they were queued."""
        self.fence: Callable[[], int | None] | None = None
        """The lease's token now (None: not held); None itself: unfenced, one evaluator."""
        self.token: int | None = None
        """The token the points queued since the last :meth:`begin` were made under."""

    def begin(self) -> int | None:
        """At the start of a pass: take the lease's token for what the pass queues. A change
        drops what was queued under the other (a standby's points, a lapsed tenure's); a new
        tenure writes and posts every open event again. Returns the token (None: standby)."""
        if self.fence is None:
            return None
        token = self.fence()
        if token != self.token:
            self.pending_lines, self.pending_rollups = [], []
            self.token = token
            self.metrics.lease_token.set(token or 0)
            if token is not None:
                for replica in self.replicas:
                    replica.posted.clear()
                    replica.resolved.clear()
                for rec in self.records.values():
                    self.store(rec)
        return token

    def writing(self) -> bool:
        """Unfenced, or the lease is still held under the pass's token."""
        return self.fence is None or (self.token is not None and self.fence() == self.token)

    def queue(self, *lines: str, first: bool = False) -> None:
        """Queue points to write; ``first``: ahead of those queued (a failed write's, kept)."""
        at = 0 if first else len(self.pending_lines)
        self.pending_lines[at:at] = lines
        if len(self.pending_lines) > MAX_PENDING_LINES:
            dropped = len(self.pending_lines) - MAX_PENDING_LINES
            del self.pending_lines[:dropped]
            log.error("InfluxDB unwritable for long: dropped the %d oldest event/SLA points",
                      dropped)  # fmt: skip

    def queue_rollups(self, *lines: str, first: bool = False) -> None:
        at = 0 if first else len(self.pending_rollups)
        self.pending_rollups[at:at] = lines
        if len(self.pending_rollups) > MAX_PENDING_LINES:
            dropped = len(self.pending_rollups) - MAX_PENDING_LINES
            del self.pending_rollups[:dropped]
            log.error("InfluxDB unwritable for long: dropped the %d oldest rollup points "
                      "(the next SLA passes roll those minutes up again)", dropped)  # fmt: skip

    def store(self, rec: EventRecord) -> None:
        """Queue the event's point (the same point is rewritten as the event changes). Route
        changes, baseline shifts and returns have measurements of their own (``route_change``,
        ``baseline_shift``, ``return_path``), written as detected: the ``event`` measurement,
        which reports count, holds faults only."""
        if rec.event.scope in INFO_SCOPES:
            return
        topology = self.config.topology
        names = {r.id: r.name for r in topology.regions}
        self.queue(event_line(rec.event, topology.landing_station.id, rec.start_s, rec.evidence,
                              names, token=self.token))  # fmt: skip

    def opened(self, rec: EventRecord) -> None:
        self.records[rec.event.id] = rec
        self.store(rec)

    def changed(self, rec: EventRecord) -> None:
        """The event's evidence changed: store it and post it again."""
        for replica in self.replicas:
            replica.posted.discard(rec.event.id)
        self.store(rec)

    def closed(self, event_id: str, evidence: dict[str, Any]) -> EventRecord:
        rec = self.records.pop(event_id)
        rec.evidence = evidence
        for replica in self.replicas:
            replica.posted.discard(event_id)
            replica.resolved.append(rec)
        self.store(rec)
        return rec

    async def flush(self, now_s: float) -> None:
        """Write queued points and post due alerts; failures are kept for the next call. The
        SLA pass queues from its own task while a write is in flight: a write takes the lines
        queued when it began, and what is queued meanwhile waits for the next flush (in that
        order: a minute rolled up again must not be overwritten by its older rollup).
        Fenced and not (or no longer) the holder: what is queued is dropped, nothing posted."""
        if not self.writing():
            self.pending_lines, self.pending_rollups = [], []
            for replica in self.replicas:
                replica.resolved.clear()
            return
        async with self.flushing:
            await self._write(rollup=False)
            await self._write(rollup=True)
        await asyncio.gather(*(self._post(r, now_s) for r in self.replicas))

    async def _write(self, *, rollup: bool) -> None:
        if self.writer is None:
            return
        batch = self.pending_rollups if rollup else self.pending_lines
        if not batch:
            return
        if rollup:
            self.pending_rollups = []
        else:
            self.pending_lines = []
        try:
            await self.writer.write(batch, rollup=rollup)
        except SinkError as exc:
            self.metrics.errors.labels("write").inc()
            if exc.kind == "partial":  # stored but those refused: no retry can help
                log.warning("%s; the other %d points are stored", exc, len(batch) - exc.refused)
                return
            if rollup:
                hint = ("; `cablewatch db init` makes the rollup retention policy"
                        if "retention policy not found" in str(exc) else "")  # fmt: skip
                log.warning("%s%s; %d rollup points kept for the next try", exc, hint,
                            len(batch))  # fmt: skip
                self.queue_rollups(*batch, first=True)
            else:
                log.warning("%s; %d points kept for the next try", exc, len(batch))
                self.queue(*batch, first=True)

    async def _post(self, replica: _Replica, now_s: float) -> None:
        resend = self.config.alerting.resend_s
        expired = now_s - 4 * resend
        replica.resolved = [r for r in replica.resolved
                            if (r.event.resolved_s or now_s) > expired]  # fmt: skip
        resend_all = now_s - replica.last_post_s >= resend
        due = [r for r in self.records.values() if resend_all or r.event.id not in replica.posted]
        due += replica.resolved
        if not due:
            return
        station = self.config.topology.landing_station.id
        body = [alert(r.event, station=station, evidence=r.evidence, now_s=now_s,
                      resend_s=resend, token=self.token) for r in due]  # fmt: skip
        try:
            await replica.client.post(body)
        except CablewatchError as exc:
            self.metrics.errors.labels("alert").inc()
            if not replica.failing:
                log.warning("%s; its alerts are kept until it takes them (%d now)", exc,
                            len(body))  # fmt: skip
            replica.failing = True
            return
        if replica.failing:
            log.warning("alertmanager %s takes alerts again (%d sent)", replica.client.url,
                        len(body))  # fmt: skip
            replica.failing = False
        replica.posted |= {r.event.id for r in due if r.event.resolved_s is None}
        replica.resolved.clear()
        if any(r.event.resolved_s is None for r in due):
            replica.last_post_s = now_s
