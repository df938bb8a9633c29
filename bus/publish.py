"""The agent's writer on the bus: each spooled batch one JetStream message.

A batch is published on ``SUBJECT.STATION.REGION`` with its spool id (``Nats-Msg-Id``,
agent/spool.py: the same rows always carry the same id) and the agent that measured it in
headers; the agent's sender forgets the batch only when the stream acknowledged it (stored on
a majority of its replicas). A replay, after a crash between the publish and the spool's
acknowledgement or a publish whose acknowledgement was lost with a node, is acknowledged by the
server as a duplicate and stored once. Any failure is a :class:`BusError` the sender retries
(the rows stay spooled): no round is lost while the bus is away.
"""

from __future__ import annotations

import asyncio
import time

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from cablewatch.bus.client import connect, credentials, ensure_stream
from cablewatch.bus.settings import BusSettings
from cablewatch.errors import BusError

__all__ = ["BACKOFF_MAX_S", "BUS_BATCH_BYTES", "HOST", "POINTS", "REGION", "BusPublisher"]

BUS_BATCH_BYTES = 512 * 1024
"""A batch's line protocol stops short of this (NATS's default max_payload is 1 MiB)."""
PUBLISH_TIMEOUT_S = 4.0
"""A publish not acknowledged in this long is sent again (the same id: stored once). An
acknowledgement takes milliseconds; one lost with a dying node should not hold the agent's
rounds back past the evaluator's 10.5 s staleness."""
BACKOFF_MAX_S = 2.0
"""The sender's longest wait between attempts on the bus (InfluxDB's: 30 s): a node's death
costs an election (about 4 s here), not a herd to protect a database from."""
RECHECK_S = 30.0
"""Publishes that find no stream this long: the stream is looked up (and made) again."""
HOST = "Cablewatch-Host"
REGION = "Cablewatch-Region"
POINTS = "Cablewatch-Points"


class BusPublisher:
    def __init__(self, bus: BusSettings, *, station: str, region: str, host: str,
                 timeout_s: float = PUBLISH_TIMEOUT_S) -> None:  # fmt: skip
        credentials(bus)  # a secret that cannot be read stops the agent before it probes
        self.bus = bus
        self.name = bus.servers
        self.clock_offset_s: float | None = None  # JetStream's acknowledgement has no clock
        self.subject = f"{bus.subject}.{station}.{region}"
        self.host, self.region = host, region
        self.timeout_s = timeout_s
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()
        self._silent_since: float | None = None
        """When publishes began to find no stream (monotonic), if they do."""
        self.duplicates = 0
        """Batches the server already had (replays)."""

    async def _ready(self) -> JetStreamContext:
        async with self._lock:
            if self._nc is None:
                self._nc = await connect(self.bus, f"cablewatch-agent {self.host}")
            if self._js is None:
                js = self._nc.jetstream(timeout=self.timeout_s)
                await ensure_stream(js, self.bus)
                self._js = js
            return self._js

    async def write(
        self, lines: list[str], *, rollup: bool = False, key: str | None = None
    ) -> None:
        if rollup:
            raise ValueError("the bus carries rounds, not rollups")
        js = await self._ready()
        headers = {HOST: self.host, REGION: self.region,
                   POINTS: str(sum(c.count("\n") + 1 for c in lines))}  # fmt: skip
        if key is not None:
            headers["Nats-Msg-Id"] = key
        payload = "\n".join(lines).encode()
        try:
            ack = await js.publish(self.subject, payload, timeout=self.timeout_s,
                                   stream=self.bus.stream, headers=headers)  # fmt: skip
        except nats.js.errors.NoStreamResponseError as exc:
            # the stream's leader is gone (an election takes a few seconds) or, if this lasts,
            # the stream itself: then it is looked up (and made) again
            now = time.monotonic()
            self._silent_since = self._silent_since or now
            if now - self._silent_since > RECHECK_S:
                self._js, self._silent_since = None, None
            raise BusError(self.name, "unreachable", f"no stream {self.bus.stream} answered "
                           f"on {self.subject}") from exc  # fmt: skip
        except nats.js.errors.APIError as exc:
            raise BusError(self.name, "server", f"publish refused: {exc}") from exc
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise BusError(
                self.name, "unreachable", f"publish not acknowledged: {exc or type(exc).__name__}"
            ) from exc
        self._silent_since = None
        if ack.duplicate:
            self.duplicates += 1

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = self._js = None
