"""``cablewatch ingest``: the bus's batches into InfluxDB, acknowledged after the write.

Any number of replicas share one durable pull consumer (``[bus] ingest_consumer``): each
batch goes to one of them, and is delivered again (to any) if it is not acknowledged within
``ack_wait_s`` (a replica died, InfluxDB hung). A replica fetches up to ``FETCH`` batches,
writes them in one request (collectors/store.py: late rounds noted for the evaluator's
rollups, per agent), and acknowledges them only once InfluxDB stored them. While InfluxDB
fails, it keeps the batches (telling the server it is still working on them), retries with
backoff and full jitter, and logs each attempt; InfluxDB's writes are idempotent (the same
lines overwrite themselves), so a batch delivered twice is stored once. A batch InfluxDB
rejects as malformed is terminated (never delivered again) with one error line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Sequence

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from cablewatch.aio import stop_on_signals, wait_event
from cablewatch.bus.client import check_consumer, connect, ensure_stream
from cablewatch.bus.publish import HOST, POINTS, REGION
from cablewatch.bus.settings import BusSettings
from cablewatch.collectors.influx import Writer, writer_for
from cablewatch.collectors.settings import InfluxSink
from cablewatch.collectors.store import store
from cablewatch.config import Config
from cablewatch.errors import BusError, CablewatchError, SinkError

__all__ = ["FETCH", "IngestMetrics", "ingest", "serve"]

log = logging.getLogger("cablewatch.ingest")

FETCH = 256
"""Batches taken at a time (one InfluxDB write): at 9 agents flushing every second, a replica
catching up after an outage writes 256 s of them a request."""


class IngestMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.batches = Counter("cablewatch_ingest_batches", "Batches written to InfluxDB and "
                               "acknowledged.", registry=r)  # fmt: skip
        self.points = Counter("cablewatch_ingest_points", "Points written to InfluxDB.",
                              registry=r)  # fmt: skip
        self.redelivered = Counter("cablewatch_ingest_redelivered_batches", "Batches delivered "
                                   "more than once (a replica died or timed out).",
                                   registry=r)  # fmt: skip
        self.errors = Counter("cablewatch_ingest_write_errors", "Failed InfluxDB writes.",
                              ("kind",), registry=r)  # fmt: skip
        self.pending = Gauge("cablewatch_ingest_pending_batches", "Batches in the stream not "
                             "yet delivered to any replica.", registry=r)  # fmt: skip

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)


async def ingest(bus: BusSettings, writer: Writer, sink: InfluxSink, stop: asyncio.Event,
                 metrics: IngestMetrics, *, name: str = "cablewatch-ingest") -> None:  # fmt: skip
    """Until ``stop``. Raises BusError (one line, naming the URLs) if no server answers at
    start, or the stream or consumer exists with other settings."""
    nc = await connect(bus, name)
    try:
        js = nc.jetstream()
        if not await _set_up(js, bus, stop):
            return
        sub = await js.pull_subscribe_bind(durable=bus.ingest_consumer, stream=bus.stream)
        log.info("ingest: %s -> %s (consumer %s on stream %s)", bus.servers, sink.url,
                 bus.ingest_consumer, bus.stream)  # fmt: skip
        last_pending = 0.0
        trouble = False
        while not stop.is_set():
            try:
                msgs = await sub.fetch(FETCH, timeout=1.0)
            except TimeoutError:  # nothing new (nats-py raises asyncio's, or its subclass)
                msgs = []
            except nats.errors.Error as exc:  # a node went away: the client reconnects
                if not trouble:
                    log.warning("ingest: fetch failed (%s); trying again",
                                exc or type(exc).__name__)  # fmt: skip
                    trouble = True
                await wait_event(stop, 0.5)
                continue
            if trouble and msgs:
                log.warning("ingest: fetching again")
                trouble = False
            if msgs:
                await _write(msgs, writer, sink, stop, metrics, bus.ack_wait_s / 2)
            now = time.monotonic()
            if now - last_pending >= 5.0:
                last_pending = now
                with contextlib.suppress(nats.errors.Error, TimeoutError):  # the next will do
                    metrics.pending.set((await sub.consumer_info()).num_pending or 0)
    finally:
        await nc.close()


async def _set_up(js: JetStreamContext, bus: BusSettings, stop: asyncio.Event) -> bool:
    """The stream and the consumer, made or checked; while the cluster does not answer in
    time (JetStream busy or electing), tried again every few seconds (said each time). A
    setting that differs raises. False if stopped meanwhile."""
    while not stop.is_set():
        try:
            await ensure_stream(js, bus)
            await check_consumer(js, bus)
            return True
        except BusError as exc:
            if exc.kind != "unreachable":
                raise
            log.warning("%s; trying again in 2 s", exc)
            await wait_event(stop, 2.0)
    return False


async def _write(msgs: Sequence[Msg], writer: Writer, sink: InfluxSink, stop: asyncio.Event,
                 metrics: IngestMetrics, hold_s: float) -> None:  # fmt: skip
    """Store ``msgs`` (each agent's with its own late-round note), then acknowledge them; on a
    failure keep them in progress (said to the server at least every ``hold_s``) and retry
    until stored, rejected, or ``stop``."""
    by_agent: dict[tuple[str, str], list[str]] = {}
    points = 0
    for m in msgs:
        h = m.headers or {}
        by_agent.setdefault((h.get(HOST, ""), h.get(REGION, "")), []).append(m.data.decode())
        points += int(h.get(POINTS, "0") or 0)
        if m.metadata.num_delivered > 1:
            metrics.redelivered.inc()
    batches = [({k: v for k, v in (("host", host), ("region", region)) if v}, chunks)
               for (host, region), chunks in by_agent.items()]  # fmt: skip
    backoff = 0.5
    attempt = 0
    while True:
        try:
            await store(writer, batches, sink.backfill_after_s)
            break
        except SinkError as exc:
            metrics.errors.labels(exc.kind).inc()
            if exc.kind == "partial":  # stored, but for points beyond retention
                log.warning("%s", exc)
                break
            if exc.kind == "rejected":
                log.error("%s; terminating %d batches (never delivered again)", exc, len(msgs))
                for m in msgs:
                    await _quietly(m.term())
                return
            attempt += 1
            wait_s = random.uniform(0, backoff)
            log.warning("%s; %d batches held, attempt %d, retrying in %.1f s", exc, len(msgs),
                        attempt, wait_s)  # fmt: skip
            for m in msgs:  # still ours: not delivered elsewhere meanwhile
                await _quietly(m.in_progress())
            if await _stopped(stop, wait_s):
                return  # unacknowledged: delivered again after ack_wait_s
            backoff = min(backoff * 2, 30.0, hold_s)
    for m in msgs:
        await _quietly(m.ack())
    metrics.batches.inc(len(msgs))
    metrics.points.inc(points)
    if attempt:
        log.info("%s takes writes again after %d failed attempts", writer.name, attempt)


async def _stopped(stop: asyncio.Event, wait_s: float) -> bool:
    await wait_event(stop, wait_s)
    return stop.is_set()


async def _quietly(call: Awaitable[None]) -> None:
    """An acknowledgement (a publish): if the connection is down it is lost, and the batch is
    delivered again after ack_wait_s (and stored again, which changes nothing)."""
    with contextlib.suppress(nats.errors.Error):
        await call


async def serve(config: Config, listen: tuple[str, int] | None) -> None:
    """``cablewatch ingest``: until SIGTERM / SIGINT."""
    if config.bus is None:
        raise CablewatchError(f"{config.source}: no [bus] section: ingest reads the bus")
    sink = config.influx("ingest writes the bus's batches into it")
    writer = writer_for(sink)
    metrics = IngestMetrics()
    if listen is not None:
        metrics.serve(*listen)
        log.info("metrics on http://%s:%d/metrics", *listen)
    stop = stop_on_signals()
    try:
        await ingest(config.bus, writer, sink, stop, metrics)
    finally:
        await writer.close()
