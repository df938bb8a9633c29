"""What the evaluator owes the outside world: points to write to InfluxDB and alerts to post
to Alertmanager. Both are kept until they are taken, and retried on every flush.

- Points (events, SLA status, recommendations) queue up to ``MAX_PENDING_LINES``; beyond
  that the oldest are dropped, with an error in the log.
- Every open event has a record: posted when raised or grown, re-posted every ``resend_s``
  with ``endsAt`` ahead, and once more when resolved (``endsAt`` = then).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from cablewatch.alerting.alertmanager import AlertmanagerClient, alert
from cablewatch.collectors.influx import Writer
from cablewatch.config import Config
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
    posted: bool = False
    evidence_paths: int = 0


class Outbox:
    def __init__(
        self,
        config: Config,
        metrics: EvaluatorMetrics,
        writer: Writer | None,
        alertmanager: AlertmanagerClient | None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.writer = writer
        self.alertmanager = alertmanager
        self.pending_lines: list[str] = []
        self.records: dict[str, EventRecord] = {}
        """Open events, by id."""
        self.resolved: list[EventRecord] = []
        """Resolved events whose resolution is not posted yet."""
        self.last_post_s = 0.0

    def queue(self, *lines: str) -> None:
        self.pending_lines.extend(lines)
        if len(self.pending_lines) > MAX_PENDING_LINES:
            dropped = len(self.pending_lines) - MAX_PENDING_LINES
            del self.pending_lines[:dropped]
            log.error("InfluxDB unwritable for long: dropped the %d oldest event/SLA points",
                      dropped)  # fmt: skip

    def store(self, rec: EventRecord) -> None:
        """Queue the event's point (the same point is rewritten as the event changes)."""
        station = self.config.topology.landing_station.id
        evidence = json.dumps(rec.evidence, sort_keys=True)
        self.queue(event_line(rec.event, station, rec.start_s, evidence))

    def opened(self, rec: EventRecord) -> None:
        self.records[rec.event.id] = rec
        self.store(rec)

    def changed(self, rec: EventRecord) -> None:
        """The event's evidence changed: store it and post it again."""
        rec.posted = False
        self.store(rec)

    def closed(self, event_id: str, evidence: dict[str, Any]) -> EventRecord:
        rec = self.records.pop(event_id)
        rec.evidence = evidence
        rec.posted = False
        self.resolved.append(rec)
        self.store(rec)
        return rec

    async def flush(self, now_s: float) -> None:
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
        resend = self.config.alerting.resend_s
        due = [r for r in self.records.values()
               if not r.posted or now_s - self.last_post_s >= resend]  # fmt: skip
        due += self.resolved
        if not due:
            return
        station = self.config.topology.landing_station.id
        body = [alert(r.event, station=station, evidence=r.evidence, now_s=now_s,
                      resend_s=resend) for r in due]  # fmt: skip
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
            self.last_post_s = now_s
