"""The sender on the bus: each batch fixed in the spool before it leaves, and a batch whose
acknowledgement was lost sent again with the same rows under the same id (which the bus
drops), so every round arrives once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cablewatch.agent.sender import Sender, SenderOptions
from cablewatch.agent.spool import Spool
from cablewatch.collectors.exporter import AgentMetrics
from cablewatch.errors import BusError


class LosingBus:
    """Keeps each batch id once, as JetStream's duplicate window does; the acknowledgement
    of every ``lose``-th publish is lost (stored, but the sender hears an error)."""

    name = "nats://test"
    clock_offset_s: float | None = None

    def __init__(self, lose: int) -> None:
        self.lose = lose
        self.published: list[tuple[str | None, list[str]]] = []
        self.stored: dict[str, list[str]] = {}

    async def write(
        self, lines: list[str], *, rollup: bool = False, key: str | None = None
    ) -> None:
        assert key is not None, "a keyed sender always names its batch"
        self.published.append((key, list(lines)))
        self.stored.setdefault(key, list(lines))
        if len(self.published) % self.lose == 0:
            raise BusError(self.name, "unreachable", "publish not acknowledged: timeout")

    async def close(self) -> None:
        pass


def test_a_lost_acknowledgement_resends_the_same_batch_under_the_same_id(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "s.db")
    rounds = [f"ping,region=sg n={i} {i}" for i in range(200)]
    for r in rounds:
        spool.add([("ping|sg|ADC", [r])])
    bus = LosingBus(lose=3)

    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    opts = SenderOptions(batch_points=7, in_flight=2, keyed=True, batch_bytes=10_000,
                         backoff_initial_s=0.001, backoff_max_s=0.001)  # fmt: skip
    stop = asyncio.Event()
    stop.set()  # send what is spooled, then return
    asyncio.run(Sender(spool, db, bus, AgentMetrics(), opts).run(stop))

    assert spool.depth().points == 0
    stored = [line for lines in bus.stored.values() for line in lines]
    assert sorted(stored) == sorted(rounds)  # each round once, none lost
    sent: dict[str, list[str]] = {}
    for key, lines in bus.published:  # every resend: the same rows under the same id
        assert sent.setdefault(key or "", lines) == lines
    assert len(bus.published) > len(bus.stored)  # there were resends
