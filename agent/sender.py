"""The sender: moves spooled points to a sink, in batches, pipelined, acknowledged in order.

A sliding window of up to ``in_flight`` batches is written at once: when the oldest is stored
it is acknowledged and the next batch leaves at once, so the sink is never idle while the
spool is read or acknowledged (a lock-step "write four, wait for all four, ack, read" left it
idle for the slowest request plus the spool's work at every turn). The spool forgets a batch
only when it and every batch before it were stored (acks in order), so a crash or a failed
write never loses a point. A failure resends from the oldest unacknowledged point: replays
are idempotent (the same lines), so nothing counts twice. Transient failures back off
exponentially with full jitter, logging once per attempt; a batch the sink rejects as
malformed (HTTP 4xx other than auth and not-found) is dropped with an error, since no retry
can succeed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_args

from cablewatch.agent.spool import Pending, Spool
from cablewatch.aio import wait_event
from cablewatch.collectors.exporter import AgentMetrics
from cablewatch.collectors.influx import Writer
from cablewatch.collectors.store import store
from cablewatch.errors import SinkError, SinkErrorKind

__all__ = ["Sender", "SenderOptions"]

log = logging.getLogger("cablewatch.sender")
CLOCK_OFF_S = 5.0
"""A host clock further than this from the sink's is said in the log (and exported always)."""
DbCall = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class SenderOptions:
    batch_points: int = 5000
    in_flight: int = 4
    flush_interval_s: float = 1.0
    """A batch that is not full leaves after this long ([sinks.influxdb] flush_interval_s); a
    full batch leaves at once."""
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    drain_timeout_s: float = 5.0
    backfill_after_s: float = 30.0
    """A batch holding rounds that started longer ago than this is followed by a ``backfill``
    note of their span ([sinks.influxdb] backfill_after_s)."""
    origin: tuple[tuple[str, str], ...] = ()
    """The note's tags: this agent's host and region."""
    keyed: bool = False
    """Each batch is fixed in the spool before it leaves and written with its id (the bus,
    which drops a batch it already has); the bus's reader notes late rounds, not the agent."""
    batch_bytes: int | None = None
    """A batch stops short of this many bytes of line protocol (the bus's message size)."""


class Sender:
    def __init__(
        self, spool: Spool, db: DbCall, writer: Writer, metrics: AgentMetrics, opts: SenderOptions
    ) -> None:
        self.spool = spool
        self.db = db  # runs a spool method on the spool's own thread
        self.writer = writer
        self.metrics = metrics
        self.opts = opts
        self.new_data = asyncio.Event()
        self._depth_at = -math.inf
        self._refused_said = -math.inf
        self._refused_since = 0
        self._clock_off = False
        for kind in get_args(SinkErrorKind):  # every error series exists from the start, at 0
            metrics.send_errors.labels(writer.name, kind)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` (set once nothing more can be spooled) and the spool is empty, or
        ``drain_timeout_s`` after ``stop``."""
        sink = self.writer.name
        backoff = self.opts.backoff_initial_s
        failed = 0
        loop = asyncio.get_running_loop()
        drain_deadline: float | None = None
        window: collections.deque[_Batch] = collections.deque()
        sent_through = 0  # the last point id handed to a write
        last_partial = -math.inf  # when a batch that was not full last left
        try:
            while True:
                if stop.is_set() and drain_deadline is None:
                    drain_deadline = loop.time() + self.opts.drain_timeout_s
                if drain_deadline is not None and loop.time() > drain_deadline:
                    return
                await self._publish_depth(loop.time())
                waiting = 0  # points left behind for now: not a full batch, not due yet
                while len(window) < self.opts.in_flight:  # fill the window
                    self.new_data.clear()
                    pending = await self.db(self.spool.peek, self.opts.batch_points,
                                            sent_through, self.opts.batch_bytes)  # fmt: skip
                    full = pending is not None and pending.points >= self.opts.batch_points
                    due = loop.time() - last_partial >= self.opts.flush_interval_s
                    if pending and not (full or stop.is_set() or (not window and due)):
                        waiting = pending.points  # a batch that is not full leaves when due
                    if pending is None or waiting:
                        break
                    if not full:
                        last_partial = loop.time()
                    if self.opts.keyed:
                        pending = await self.db(self.spool.fix, pending)
                    window.append(self._send(pending))
                    sent_through = pending.last_id
                if not window:
                    if stop.is_set() and not waiting:
                        return
                    if waiting:  # until the partial batch is due (a burst waits at most this)
                        left = self.opts.flush_interval_s - (loop.time() - last_partial)
                        await wait_event(stop, max(0.0, left))
                    else:
                        await wait_event(self.new_data, self.opts.flush_interval_s)
                    continue
                batch = window.popleft()
                try:
                    await batch.task
                except SinkError as exc:
                    if exc.kind == "partial":  # stored, but for the points it refused
                        self._refused(exc, loop.time())
                        self.metrics.written.labels(sink).inc(batch.points - exc.refused)
                        self.metrics.last_write.labels(sink).set(time.time())
                    elif exc.kind == "rejected":
                        log.error("%s; dropping a batch of %d points", exc, batch.points)
                    else:
                        sent_through = batch.first_id - 1  # resend from the oldest unstored
                        await _cancel(window)
                        self.metrics.send_errors.labels(sink, exc.kind).inc()
                        wait_s = random.uniform(0, backoff)  # full jitter
                        depth = (await self.db(self.spool.depth)).points
                        log.warning("%s; %d points spooled; retrying in %.1f s", exc, depth,
                                    wait_s)  # fmt: skip
                        if drain_deadline is not None:
                            wait_s = min(wait_s, max(0.0, drain_deadline - loop.time()))
                        await wait_event(stop if not stop.is_set() else asyncio.Event(), wait_s)
                        backoff = min(backoff * 2, self.opts.backoff_max_s)
                        failed += 1
                        continue
                else:
                    self.metrics.written.labels(sink).inc(batch.points)
                    self.metrics.last_write.labels(sink).set(time.time())
                    self._clock(self.writer.clock_offset_s)
                await self.db(self.spool.ack, batch.last_id, batch.size)
                if failed:  # a state change: say it once
                    log.info("%s takes writes again after %d failed attempts", sink, failed)
                    failed = 0
                backoff = self.opts.backoff_initial_s
        finally:
            await _cancel(window)
            await self._publish_depth(math.inf)

    def _clock(self, offset_s: float | None) -> None:
        """This host's clock against the sink's: exported; a clock more than CLOCK_OFF_S off
        is said once (and once more when it is back): its rounds are stored as stamped, so
        they count in the minutes this clock says, off by as much."""
        if offset_s is None:
            return
        self.metrics.clock_offset.set(offset_s)
        off = abs(offset_s) > CLOCK_OFF_S
        if off and not self._clock_off:
            ahead = "ahead of" if offset_s > 0 else "behind"
            log.warning("this host's clock is %.0f s %s %s's (its Date header): rounds are "
                        "stored as stamped, %.0f s off in every minute they count in; check "
                        "NTP (chronyc tracking)", abs(offset_s), ahead, self.writer.name,
                        abs(offset_s))  # fmt: skip
        elif self._clock_off and not off:
            log.warning("this host's clock agrees with %s's again", self.writer.name)
        self._clock_off = off

    def _refused(self, exc: SinkError, now: float) -> None:
        """Points the sink refused as older than its retention policy keeps (an agent back
        after weeks away): counted; said once, then at most every 10 minutes with the count
        since. No retry can store them; the rest of their batches is stored."""
        self.metrics.refused.labels(self.writer.name, "beyond_retention").inc(exc.refused)
        self._refused_since += exc.refused
        if now - self._refused_said >= 600.0:
            log.warning("%s (%d since the last report); the rest of each batch is stored, "
                        "cablewatch_sink_points_refused_total counts them", exc,
                        self._refused_since)  # fmt: skip
            self._refused_said, self._refused_since = now, 0

    def _send(self, p: Pending) -> _Batch:
        if p.key is not None:  # the bus: the batch under its id
            write = self.writer.write(p.chunks, key=p.key)
        else:  # InfluxDB: the batch, then the note of its late rounds (collectors/store.py)
            write = store(self.writer, [(dict(self.opts.origin), p.chunks)],
                          self.opts.backfill_after_s)  # fmt: skip
        return _Batch(p.first_id, p.last_id, p.points, p.size, asyncio.create_task(write))

    async def _publish_depth(self, now: float) -> None:
        """The spool's depth as metrics, at most once a second (counting is a table scan)."""
        if now - self._depth_at < 1.0:
            return
        self._depth_at = now
        depth = await self.db(self.spool.depth)
        self.metrics.spool_points.set(depth.points)
        self.metrics.spool_bytes.set(depth.bytes)
        self.metrics.spool_dropped.set(await self.db(lambda: self.spool.dropped))


@dataclass(slots=True)
class _Batch:
    first_id: int
    last_id: int
    points: int
    size: int
    task: asyncio.Task[None]


async def _cancel(window: collections.deque[_Batch]) -> None:
    """Abandon the writes still in flight (their points stay spooled and are sent again)."""
    for b in window:
        b.task.cancel()
    await asyncio.gather(*(b.task for b in window), return_exceptions=True)
    window.clear()
