"""The sender: moves spooled points to a sink, in batches, pipelined, acknowledged in order.

Up to ``in_flight`` batches are written at once; the spool forgets a batch only when it and
every batch before it were stored (acks in order), so a crash or a failed write never loses a
point. A failure resends from the oldest unacknowledged point: replays are idempotent (the same
lines), so nothing counts twice. Transient failures back off exponentially with full jitter,
logging once per attempt; a batch the sink rejects as malformed (HTTP 4xx other than auth and
not-found) is dropped with an error, since no retry can succeed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_args

from cablewatch.agent.spool import Spool
from cablewatch.aio import wait_event
from cablewatch.collectors.exporter import AgentMetrics
from cablewatch.collectors.influx import Writer
from cablewatch.errors import SinkError, SinkErrorKind

__all__ = ["Sender", "SenderOptions"]

log = logging.getLogger("cablewatch.sender")
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
        while True:
            if stop.is_set() and drain_deadline is None:
                drain_deadline = loop.time() + self.opts.drain_timeout_s
            if drain_deadline is not None and loop.time() > drain_deadline:
                return
            batches = await self._next_batches()
            if not batches:
                if stop.is_set():
                    return
                self.new_data.clear()
                await wait_event(self.new_data, self.opts.flush_interval_s)
                continue
            results = await asyncio.gather(
                *(self.writer.write([line for _id, line in b]) for b in batches),
                return_exceptions=True,
            )
            acked = 0
            failure: SinkError | None = None
            for batch, outcome in zip(batches, results, strict=True):
                if isinstance(outcome, SinkError) and outcome.kind == "rejected":
                    log.error("%s; dropping a batch of %d points", outcome, len(batch))
                elif isinstance(outcome, BaseException):
                    if not isinstance(outcome, SinkError):
                        raise outcome
                    failure = outcome
                    break  # acks stay in order: nothing after a failed batch is forgotten
                acked = batch[-1][0]
                self.metrics.written.labels(sink).inc(len(batch))
            if acked:
                await self.db(self.spool.ack, acked)
                self.metrics.last_write.labels(sink).set(time.time())
            if failure is not None:
                self.metrics.send_errors.labels(sink, failure.kind).inc()
                wait_s = random.uniform(0, backoff)  # full jitter
                depth = (await self.db(self.spool.depth)).points
                log.warning("%s; %d points spooled; retrying in %.1f s", failure, depth, wait_s)
                if drain_deadline is not None:
                    wait_s = min(wait_s, max(0.0, drain_deadline - loop.time()))
                await wait_event(stop if not stop.is_set() else asyncio.Event(), wait_s)
                backoff = min(backoff * 2, self.opts.backoff_max_s)
                failed += 1
                continue
            if failed:  # a state change: say it once
                log.info("%s takes writes again after %d failed attempts", sink, failed)
                failed = 0
            backoff = self.opts.backoff_initial_s
            full = (
                len(batches) == self.opts.in_flight and len(batches[-1]) == self.opts.batch_points
            )
            if not full and not stop.is_set():
                await wait_event(stop, self.opts.flush_interval_s)  # batch by time

    async def _next_batches(self) -> list[list[tuple[int, str]]]:
        points = await self.db(self.spool.peek, self.opts.batch_points * self.opts.in_flight)
        await self._update_depth()
        size = self.opts.batch_points
        return [points[i : i + size] for i in range(0, len(points), size)]

    async def _update_depth(self) -> None:
        depth = await self.db(self.spool.depth)
        self.metrics.spool_points.set(depth.points)
        self.metrics.spool_bytes.set(depth.bytes)
        self.metrics.spool_dropped.set(await self.db(lambda: self.spool.dropped))
