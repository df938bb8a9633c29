"""Late points reach the rollups (real influxd): an agent's sender notes the span of the late
rounds it stored (``backfill``), once they are stored, and not for fresh ones; the evaluator
rolls the noted minutes up again, and only those."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipeline_helpers import ping_line

from cablewatch.agent.sender import Sender, SenderOptions
from cablewatch.agent.spool import Spool
from cablewatch.collectors.exporter import AgentMetrics
from cablewatch.collectors.influx import InfluxQL, InfluxV1Writer
from cablewatch.collectors.lineprotocol import backfill_line
from cablewatch.collectors.read.minutes import backfills, rollups
from cablewatch.collectors.settings import InfluxSink
from cablewatch.config import load
from cablewatch.evaluator.service import Evaluator
from cablewatch.harness.stack import Server, agent_config, influxd, init_db

pytestmark = pytest.mark.servers


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with influxd(tmp_path_factory.mktemp("backfill") / "influx") as server:
        yield server


def _query(url: str, db: str, q: str) -> list[Any]:
    r = httpx.post(f"{url}/query", data={"db": db, "q": q}, params={"epoch": "ns"}, timeout=30)
    return list(r.json()["results"][0].get("series", []))


def test_the_sender_notes_the_span_of_late_rounds_once_stored(influx: Server,
                                                              tmp_path: Path) -> None:  # fmt: skip
    init_db(influx.url, "sender")
    now = time.time()
    old = [now - 300 + i for i in range(3)]  # a spool draining: five minutes late
    spool = Spool(tmp_path / "spool.db")
    spool.add([(f"s|{t}", [ping_line("singapore", "ADC", t, 5, 5, 30.0)]) for t in old])
    spool.add([("s|fresh", [ping_line("singapore", "ADC", now, 5, 5, 30.0)])])
    sink = InfluxSink(url=influx.url, database="sender")
    opts = SenderOptions(batch_points=2, backfill_after_s=30.0,
                         origin=(("host", "sg-probe"), ("region", "singapore")))  # fmt: skip

    async def go() -> None:
        pool = concurrent.futures.ThreadPoolExecutor(1)
        loop = asyncio.get_running_loop()

        async def db(fn: Callable[..., Any], *args: Any) -> Any:
            return await loop.run_in_executor(pool, fn, *args)

        writer = InfluxV1Writer(sink, secret=None)
        stop = asyncio.Event()
        stop.set()  # send what is spooled, then return
        await Sender(spool, db, writer, AgentMetrics(), opts).run(stop)
        await writer.close()
        pool.shutdown()

    asyncio.run(go())
    assert spool.depth().points == 0
    notes = _query(influx.url, "sender", 'SELECT * FROM "backfill" GROUP BY *')
    [series] = notes
    assert series["tags"] == {"host": "sg-probe", "region": "singapore"}
    rows = [dict(zip(series["columns"], v, strict=True)) for v in series["values"]]
    # batches of two rounds: the first two late ones, then the third with the fresh one (the
    # batches fly together: their notes may land in either order)
    assert sorted((r["from_ns"], r["until_ns"], r["rounds"]) for r in rows) == [
        (int(old[0] * 1e9), int(old[1] * 1e9) + 1, 2),
        (int(old[2] * 1e9), int(old[2] * 1e9) + 1, 1),
    ]
    assert all(r["time"] > int(old[2] * 1e9) for r in rows)  # stamped when written


def test_late_rounds_with_a_note_are_rolled_up_again(influx: Server,
                                                     tmp_path: Path) -> None:  # fmt: skip
    """The evaluator rolls up minutes as they close and re-reads only the last few minutes of
    raw points; twenty minutes later a spool drains rounds into an old minute. With the
    agent's note the minute is rolled up again; rounds stored late without one (no agent
    writes those) are left as they were: the rollups follow the notes, not a re-scan."""
    init_db(influx.url, "late")
    config = load(agent_config(tmp_path / "cw.toml", influx.url, database="late",
                               icmp_only=True))  # fmt: skip
    sink = config.influx("tests")
    base = (int(time.time()) // 60 - 40) * 60  # 40 minutes ago, on a minute
    marked, unmarked = ("singapore", "ADC"), ("jakarta", "SJC")

    def rounds(path: tuple[str, str], minute: int, received: int, n: int = 2) -> list[str]:
        return [ping_line(*path, base + 60 * minute + 20 * k, 5, received, 30.0)
                for k in range(n)]  # fmt: skip

    async def go() -> dict[tuple[str, str], dict[int, Any]]:
        ql, writer = InfluxQL(sink), InfluxV1Writer(sink, secret=None)
        try:
            await writer.write([ln for m in range(10) for p in (marked, unmarked)
                                for ln in rounds(p, m, 5)])  # fmt: skip
            clock = Clock(base + 15 * 60 + 1)
            ev = Evaluator(config, ql, writer=writer, clock=clock)
            await ev.evaluate_sla()  # rolls up minutes 0-14
            await ev.flush()
            # 20 minutes later: a spool drains a third round into minute 3 of both paths
            clock.now = base + 35 * 60 + 1
            late = [ping_line(*p, base + 3 * 60 + 50, 5, 0, None) for p in (marked, unmarked)]
            await writer.write(late)
            await writer.write([backfill_line({"host": "sg-probe", "region": "singapore"},
                                              (base + 3 * 60 + 50) * 10**9,
                                              (base + 3 * 60 + 50) * 10**9 + 1, 1,
                                              time.time_ns())])  # fmt: skip
            assert [n.rounds for n in await backfills(ql, 0)] == [1]
            await ev.evaluate_sla()
            await ev.flush()
            clock.now += 60
            await ev.evaluate_sla()  # a note is acted on once
            await ev.flush()
            return await rollups(ql, base * 10**9, (base + 10 * 60) * 10**9)
        finally:
            await ql.close()
            await writer.close()

    rolled = asyncio.run(go())
    minute = base + 3 * 60
    assert (rolled[marked][minute].sent, rolled[marked][minute].received) == (15, 10)
    assert (rolled[unmarked][minute].sent, rolled[unmarked][minute].received) == (10, 10)
    assert all((m.sent, m.received) == (10, 10) for s, m in rolled[marked].items()
               if s != minute)  # fmt: skip
    log = _query(influx.url, "late", 'SELECT count("sent") FROM "rollup"."minute" WHERE '
                 f"\"region\" = 'singapore' AND time = {minute * 10**9}")  # fmt: skip
    assert log[0]["values"][0][1] == 1  # rewritten in place, one point a minute
