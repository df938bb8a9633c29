"""The evaluator's outbox: points queued while a write is in flight (the SLA pass runs in its
own task) are written by the next flush, in the order they were queued, and a failed write's
points go back ahead of the newer ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cablewatch.config import load
from cablewatch.errors import SinkError
from cablewatch.evaluator.metrics import EvaluatorMetrics
from cablewatch.evaluator.outbox import Outbox

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
