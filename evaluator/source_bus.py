"""Rounds from the bus: a station's batches pushed to the evaluator as the agents publish them.

A durable push consumer of the evaluator's own (``evaluate-HOST-STATION``, replicated as the
stream is, so it survives a node's death; made afresh at every start and deleted at a clean
stop) on ``SUBJECT.STATION.>`` delivers every batch into a queue as it is stored; a poll takes
what the queue holds, nothing is read twice (a batch delivered again after a consumer's
failover is dropped by its stream sequence) and nothing waits on a query. A poll also asks
every CHECK_S whether the consumer still exists, and makes it again from the batch after the
last received if it is gone. The warm-up (:meth:`BusRounds.history`) starts the consumer at
the first batch published at or after ``since_s`` and reads until it has caught up with the
stream, from the stream's retained history (``[bus] max_age_s``): an evaluator taking a
partition over learns its baselines from what the stream kept, not from InfluxDB.

Each batch's ICMP round points (``ping``, ``protocol=icmp``) become rows, and go through the
same :class:`~cablewatch.evaluator.taking.Taker` as InfluxDB's rows: each round taken once,
in time order per path, rounds stamped ahead of the clock held, rounds stamped behind said.
A round older than ``lookback_s`` when it arrives is not judged (as InfluxDB's reads would
not find it): its path has already gone unknown.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import logging
import socket
import time
from collections.abc import AsyncIterator, Collection

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from cablewatch.aio import wait_event
from cablewatch.bus.settings import BusSettings
from cablewatch.collectors.read.lines import parse_line, split_line
from cablewatch.collectors.read.rounds import RoundRow
from cablewatch.correlation.classify import PathKey
from cablewatch.correlation.detector import Round
from cablewatch.errors import BusError
from cablewatch.evaluator.source import Polled
from cablewatch.evaluator.taking import Taker
from cablewatch.probes import icmp

__all__ = ["BusRounds", "round_rows_of"]

log = logging.getLogger("cablewatch.evaluator")

CHECK_S = 2.0
"""How often a poll asks whether the evaluator's consumer still exists."""
LOST_S = 15.0
"""A consumer that does not answer this long is taken for lost and made again."""
_PREFIX = f"{icmp.MEASUREMENT},"
_ICMP = f"protocol={icmp.SPEC.protocol}"


def round_rows_of(batch: str) -> list[RoundRow]:
    """The ICMP round rows in a batch of line protocol, in the batch's order."""
    rows: list[RoundRow] = []
    for text in batch.split("\n"):
        if not text.startswith(_PREFIX) or _ICMP not in text:
            continue
        row = _quick(text)
        if row is None:  # escapes, or a string holding a space or comma: the full parser
            p = parse_line(text)
            if p.tags.get("protocol") != icmp.SPEC.protocol:
                continue
            f = p.fields
            row = [p.time_ns, p.tags.get("region"), p.tags.get("cable"),
                   f.get("packets_transmitted"), f.get("packets_received"),
                   f.get("median_response_ms"), f.get("jitter_ms"),
                   f.get("minimum_response_ms")]  # fmt: skip
        rows.append(row)
    return rows


def _quick(text: str) -> RoundRow | None:
    """A round's point as agents write it, cut with str.split (collectors/read/lines.py's
    split_line) and only the fields a round needs read (a third of the full parser's time:
    27,000 rounds a second are read by one evaluator); None where that could misread."""
    cut = split_line(text)
    if cut is None:
        return None
    _measurement, tags, f, ts = cut
    if tags.get("protocol") != icmp.SPEC.protocol:
        return None
    sent, received = f.get("packets_transmitted"), f.get("packets_received")
    median, jitter, low = (f.get("median_response_ms"), f.get("jitter_ms"),
                           f.get("minimum_response_ms"))  # fmt: skip
    try:
        return [ts, tags.get("region"), tags.get("cable"),
                int(sent[:-1]) if sent else None, int(received[:-1]) if received else None,
                float(median) if median else None, float(jitter) if jitter else None,
                float(low) if low else None]  # fmt: skip
    except ValueError:  # a field of another type than agents write: the full parser decides
        return None


class BusRounds:
    def __init__(
        self,
        js: JetStreamContext,
        bus: BusSettings,
        station: str,
        paths: Collection[PathKey],
        *,
        lookback_s: float,
        due_s: float,
        name: str = "",
    ) -> None:
        self.js = js
        self.bus = bus
        self.subject = f"{bus.subject}.{station}.>"
        self.durable = _name(name or f"evaluate-{socket.gethostname()}-{station}")
        """The evaluator's durable consumer (replicated as the stream is: it survives a node's
        death, where an ordered consumer, one replica on one node, does not)."""
        self.taker = Taker(paths, lookback_s=lookback_s, due_s=due_s)
        self._queue: collections.deque[Msg] = collections.deque()
        self._sub: JetStreamContext.PushSubscription | None = None
        self._arrived = asyncio.Event()
        self._last_seq = 0
        """The stream sequence of the last batch taken from the queue."""
        self.received_seq = 0
        """The stream sequence of the last batch delivered (queued, maybe not taken yet)."""
        self._checked = time.monotonic()
        self._failing_since: float | None = None

    async def _receive(self, msg: Msg) -> None:
        if msg.metadata.sequence.stream <= self.received_seq:
            return  # delivered again (a consumer made again overlaps the old one's last)
        self._queue.append(msg)
        self.received_seq = msg.metadata.sequence.stream
        self._arrived.set()

    async def _start(self, since_s: float | None = None) -> None:
        """The evaluator's durable consumer, made afresh: from the first batch published at
        ``since_s``, or (again, after it was lost) from the one after the last received."""
        if since_s is not None:
            start = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_TIME,
                opt_start_time=datetime.datetime.fromtimestamp(since_s, datetime.UTC),
            )
        else:
            start = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                   opt_start_seq=self.received_seq + 1)  # fmt: skip
        config = start.evolve(durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT,
                              ack_wait=30.0, max_ack_pending=100_000, flow_control=True,
                              idle_heartbeat=5.0, filter_subject=self.subject)  # fmt: skip
        try:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await self.js.delete_consumer(self.bus.stream, self.durable)
            self._sub = await self.js.subscribe(self.subject, durable=self.durable,
                                                stream=self.bus.stream, cb=self._receive,
                                                config=config)  # fmt: skip
        except (nats.errors.Error, TimeoutError) as exc:
            raise BusError(self.bus.servers, "unreachable", f"subscribing to {self.subject}: "
                           f"{exc or type(exc).__name__}") from exc  # fmt: skip

    async def history(self, since_s: float, now_s: float) -> AsyncIterator[list[Round]]:
        """Every round published since ``since_s``, until the consumer has caught up with the
        stream (nothing pending on the server, and the last batch it delivered received)."""
        if self._sub is None:
            await self._start(since_s)
        while True:
            got = await self._drain(int(now_s * 1e9), keep_old=True)
            yield got.rounds
            if await self._caught_up():
                return
            await wait_event(self._arrived, 1.0)
            self._arrived.clear()

    async def _caught_up(self) -> bool:
        assert self._sub is not None
        if self._queue:
            return False
        try:
            info = await self._sub.consumer_info()
        except (nats.errors.Error, TimeoutError):
            return False
        delivered = info.delivered.stream_seq if info.delivered else 0
        return not info.num_pending and (delivered or 0) <= self._last_seq

    async def poll(self, now_s: float) -> Polled:
        await self._check_consumer()
        return await self._drain(int(now_s * 1e9), keep_old=False)

    async def _check_consumer(self) -> None:
        """Every CHECK_S: is our consumer still on the server? An ordered consumer has one
        replica, on one node: when that node dies, it is gone, and so would be every batch
        after it. Made again from the batch after the last one received (none lost, none
        twice); while the cluster cannot make it (electing), tried at the next poll."""
        now = time.monotonic()
        if now - self._checked < CHECK_S:
            return
        self._checked = now
        if self._sub is not None:
            try:
                await self._sub.consumer_info()
                self._failing_since = None
                return
            except nats.js.errors.NotFoundError as exc:
                why = str(exc) or "not found"
            except (nats.errors.Error, TimeoutError) as exc:  # an election, or worse
                self._failing_since = self._failing_since or now
                if now - self._failing_since < LOST_S:
                    return
                why = (f"no answer for {now - self._failing_since:.0f} s "
                       f"({exc or type(exc).__name__})")  # fmt: skip
        else:
            why = "not made again yet"
        log.warning("bus: the evaluator's consumer on %s is gone (%s): taking the stream up "
                    "again after batch %d", self.subject, why, self.received_seq)  # fmt: skip
        self._failing_since = None
        old, self._sub = self._sub, None
        if old is not None:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await old.unsubscribe()
        try:
            await self._start()
        except BusError as exc:
            self._checked = 0.0  # tried again at the next poll
            log.warning("%s; trying again", exc)

    async def _drain(self, now_ns: int, *, keep_old: bool) -> Polled:
        rows: list[RoundRow] = []
        stale = now_ns - self.taker.lookback_ns
        while self._queue:
            msg = self._queue.popleft()
            self._last_seq = msg.metadata.sequence.stream
            batch = rows_of_msg(msg)
            rows.extend(batch if keep_old else [r for r in batch if r[0] > stale])
        rows.sort(key=lambda r: (r[1] or "", r[2] or "", r[0]))  # per path, in time order
        out = self.taker.take([rows], now_ns)
        out.rows = len(rows)
        return out

    async def close(self) -> None:
        """Unsubscribe and delete the durable consumer (nothing left on the server)."""
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await self._sub.unsubscribe()
                await self.js.delete_consumer(self.bus.stream, self.durable)
            self._sub = None


def _name(text: str) -> str:
    """A consumer name: no '.', '*', '>' or white space."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def rows_of_msg(msg: Msg) -> list[RoundRow]:
    try:
        return round_rows_of((msg.data or b"").decode())
    except (ValueError, UnicodeDecodeError) as exc:
        log.error("bus: a batch on %s is not line protocol (%s): skipped", msg.subject, exc)
        return []
