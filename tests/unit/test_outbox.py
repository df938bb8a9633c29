"""The evaluator's outbox: points queued while a write is in flight (the SLA pass runs in its
own task) are written by the next flush, in the order they were queued, and a failed write's
points go back ahead of the newer ones."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cablewatch.alerting.alertmanager import AlertmanagerClient
from cablewatch.config import load
from cablewatch.correlation.events import Event
from cablewatch.errors import SinkError
from cablewatch.evaluator.metrics import EvaluatorMetrics
from cablewatch.evaluator.outbox import EventRecord, Outbox

pytestmark = pytest.mark.unit
CONFIG = Path(__file__).parent.parent / "data" / "valid-loopback.toml"


class SlowSink:
    """A sink that stores what it is given once ``release`` is set, or refuses it."""

    name = "slow"
    clock_offset_s: float | None = 0.0

    def __init__(self) -> None:
        self.stored: list[tuple[bool, list[str]]] = []
        self.writing = asyncio.Event()
        self.release = asyncio.Event()
        self.down = False

    async def write(
        self, lines: list[str], *, rollup: bool = False, key: str | None = None
    ) -> None:
        batch = list(lines)  # what an HTTP body holds: the lines as they were when sent
        self.writing.set()
        await self.release.wait()
        if self.down:
            raise SinkError(self.name, "server", "HTTP 503")
        self.stored.append((rollup, batch))

    async def close(self) -> None:
        return None


def test_points_queued_during_a_write_are_written_by_the_next_flush() -> None:
    async def scenario() -> list[tuple[bool, list[str]]]:
        sink = SlowSink()
        outbox = Outbox(load(CONFIG), EvaluatorMetrics(), sink)
        outbox.queue_rollups("minute 60/60")
        flushing = asyncio.create_task(outbox.flush(0.0))
        await sink.writing.wait()
        outbox.queue_rollups("minute 205/205")  # the SLA pass, while the write is in flight
        outbox.queue("sla")
        sink.release.set()
        await flushing
        await outbox.flush(1.0)
        return sink.stored

    assert asyncio.run(scenario()) == [
        (True, ["minute 60/60"]),
        (False, ["sla"]),
        (True, ["minute 205/205"]),
    ]


def test_a_failed_write_goes_back_ahead_of_what_was_queued_meanwhile() -> None:
    async def scenario() -> list[tuple[bool, list[str]]]:
        sink = SlowSink()
        outbox = Outbox(load(CONFIG), EvaluatorMetrics(), sink)
        sink.down = True
        outbox.queue_rollups("old")
        flushing = asyncio.create_task(outbox.flush(0.0))
        await sink.writing.wait()
        outbox.queue_rollups("new")
        sink.release.set()
        await flushing
        assert outbox.pending_rollups == ["old", "new"]
        sink.down = False
        await outbox.flush(1.0)
        return sink.stored

    assert asyncio.run(scenario()) == [(True, ["old", "new"])]


class Recorded(AlertmanagerClient):
    """An Alertmanager that keeps what is posted to it."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9")
        self.posts: list[list[dict[str, Any]]] = []

    async def post(self, alerts: list[dict[str, Any]]) -> None:
        self.posts.append(alerts)


def test_fenced_only_the_lease_holder_writes_and_a_new_tenure_writes_open_events_again() -> None:
    """[bus]: a standby queues and keeps its open events but writes and posts nothing; taking
    the lease it writes and posts every open event with its token; a lease that lapses after
    a pass began leaves that pass's points unwritten."""

    async def scenario() -> None:
        sink, am = SlowSink(), Recorded()
        sink.release.set()
        outbox = Outbox(load(CONFIG), EvaluatorMetrics(), sink, [am])
        token: list[int | None] = [None]
        outbox.fence = lambda: token[0]
        assert outbox.begin() is None
        event = Event("cable", "ADC", "ADC", "", 100.0, raised_s=100.0)
        outbox.opened(EventRecord(event, 99.0, {"summary": "ADC cut"}))
        outbox.queue("sla")
        await outbox.flush(101.0)
        assert (sink.stored, am.posts) == ([], [])  # standing by
        token[0] = 7  # the lease taken
        assert outbox.begin() == 7
        await outbox.flush(102.0)
        ((rollup, lines),) = sink.stored
        assert not rollup
        assert len(lines) == 1
        assert lines[0].startswith("event,")
        assert "lease_token=7i" in lines[0]
        assert 'state="open"' in lines[0]
        ((posted,),) = am.posts
        assert posted["annotations"]["lease_token"] == "7"
        outbox.queue("recommendation")
        token[0] = None  # lapsed before the flush
        await outbox.flush(103.0)
        assert len(sink.stored) == 1
        assert len(am.posts) == 1
        assert outbox.pending_lines == []
        assert outbox.begin() is None
        assert outbox.records  # the open event is still known, for the next tenure

    asyncio.run(scenario())
