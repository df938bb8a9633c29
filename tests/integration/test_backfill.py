"""Points that come late, too old, or from a clock that is off (real influxd): an agent's
sender notes the span of the late rounds it stored (``backfill``), once they are stored; the
evaluator rolls the noted minutes up again; rounds older than the retention are counted, not
retried; a clock minutes off is said, its rounds stored as stamped and judged in their time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipeline_helpers import Clock, ping_line, send_spool

from cablewatch.agent.sender import SenderOptions
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

    def go() -> None:
        send_spool(spool, sink, AgentMetrics(), opts)

    go()
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

    async def go() -> tuple[dict[tuple[str, str], dict[int, Any]], dict[int, Any]]:
        ql, writer = InfluxQL(sink), InfluxV1Writer(sink, secret=None)
        try:
            await writer.write([ln for m in range(15) for p in (marked, unmarked)
                                for ln in rounds(p, m, 5)])  # fmt: skip
            clock = Clock(base + 15 * 60 + 1)
            ev = Evaluator(config, ql, writer=writer, clock=clock)
            await ev.evaluate_sla()  # rolls up minutes 0-14
            await ev.flush()
            # 20 minutes later a spool drains a third round into minutes 3 and 12 (at the edge
            # of what the next pass reads again) of both paths; singapore's agent notes them
            clock.now = base + 35 * 60 + 1
            for m in (3, 12):
                t = base + m * 60 + 50
                await writer.write([ping_line(*p, t, 5, 0, None) for p in (marked, unmarked)])
                await writer.write([backfill_line({"host": "sg-probe", "region": "singapore"},
                                                  t * 10**9, t * 10**9 + 1, 1,
                                                  time.time_ns())])  # fmt: skip
            assert [n.rounds for n in await backfills(ql, 0)] == [1, 1]
            await ev.evaluate_sla()
            await ev.flush()
            clock.now += 60
            await ev.evaluate_sla()  # a note is acted on once
            await ev.flush()
            held = ev.sla.minutes[marked]  # what the SLA pass counts, in memory
            return await rollups(ql, base * 10**9, (base + 15 * 60) * 10**9), held
        finally:
            await ql.close()
            await writer.close()

    rolled, held = asyncio.run(go())
    late = {base + 3 * 60, base + 12 * 60}
    for minute in late:
        assert (rolled[marked][minute].sent, rolled[marked][minute].received) == (15, 10)
    # without a note, minute 3 stays as it was; minute 12 lies in what each pass reads again
    # (the last 3 whole minutes here), and is read whole
    assert (rolled[unmarked][base + 180].sent, rolled[unmarked][base + 180].received) == (10, 10)
    assert (rolled[unmarked][base + 720].sent, rolled[unmarked][base + 720].received) == (15, 10)
    # every other minute whole: none read from its middle on (the edge of what a pass reads
    # again once was not a whole minute: minute 12 was rolled up from its last 30 s)
    assert {s: (m.sent, m.received) for s, m in rolled[marked].items() if s not in late} == {
        base + 60 * k: (10, 10) for k in range(15) if k not in (3, 12)}  # fmt: skip
    assert {s: (held[s].sent, held[s].received) for s in rolled[marked]} == {
        s: (m.sent, m.received) for s, m in rolled[marked].items()}  # fmt: skip
    minute = base + 3 * 60
    log = _query(influx.url, "late", 'SELECT count("sent") FROM "rollup"."minute" WHERE '
                 f"\"region\" = 'singapore' AND time = {minute * 10**9}")  # fmt: skip
    assert log[0]["values"][0][1] == 1  # rewritten in place, one point a minute


def test_points_older_than_the_retention_are_counted_not_retried(
    influx: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An agent back after weeks away replays rounds older than the raw retention (30 days):
    InfluxDB refuses those ("partial write: points beyond retention policy") and stores the
    rest of each batch. The sender counts the refused ones, says so once, and drains: nothing
    is retried forever, nothing beside them is lost."""
    init_db(influx.url, "weeks")
    now = time.time()
    old = [now - 45 * 86400 + i for i in range(4)]
    fresh = [now - 2 + i * 0.1 for i in range(4)]
    spool = Spool(tmp_path / "spool.db")
    spool.add([(f"s|{t}", [ping_line("tokyo", "SJC", t, 5, 5, 30.0)]) for t in old + fresh])
    sink = InfluxSink(url=influx.url, database="weeks")
    metrics = AgentMetrics()

    def go() -> None:
        send_spool(spool, sink, metrics, SenderOptions(batch_points=3))

    with caplog.at_level("WARNING", logger="cablewatch.sender"):
        go()
    assert spool.depth().points == 0  # drained, not stuck retrying
    stored = _query(influx.url, "weeks", 'SELECT "packets_transmitted" FROM "ping"')
    times = [v[0] for v in stored[0]["values"]]
    assert times == [int(t * 1e9) for t in fresh]  # every fresh round, none of the old
    refused = metrics.registry.get_sample_value(
        "cablewatch_sink_points_refused_total", {"sink": influx.url, "reason": "beyond_retention"}
    )
    assert refused == 4
    said = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(said) == 1, said  # once, although two batches held old rounds
    assert "older than the retention policy keeps" in said[0]


def test_a_clock_minutes_off_is_said_and_its_rounds_judged_in_their_time(
    influx: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rounds stamped two minutes ahead of the evaluator's clock (an agent's clock running
    ahead) are stored as stamped; detection holds them until their time, says so once, then
    judges them. A path's rounds stamped before its last judged one (a clock stepped back) are
    said once and not judged."""
    init_db(influx.url, "skew")
    config = load(agent_config(tmp_path / "cw.toml", influx.url, database="skew",
                               icmp_only=True))  # fmt: skip
    sink = config.influx("tests")
    t0 = float(int(time.time()))

    async def go() -> tuple[list[int], int]:
        ql, writer = InfluxQL(sink), InfluxV1Writer(sink, secret=None)
        clock = Clock(t0)
        ev = Evaluator(config, ql, writer=writer, clock=clock)
        taken = []
        try:
            await writer.write([ping_line("tokyo", "SJC", t0 - 5 + k, 5, 5, 30.0)
                                for k in range(5)])  # fmt: skip
            await writer.write([ping_line("tokyo", "ADC", t0 + 120 + k, 5, 5, 30.0)
                                for k in range(3)])  # fmt: skip
            for step in (0, 1, 2):  # three passes: the ahead rounds wait, said once
                clock.now = t0 + step
                await ev.detect()
                taken.append(len(ev.detection.history[("tokyo", "ADC")]))
            clock.now = t0 + 125  # their time has come
            await writer.write([ping_line("tokyo", "ADC", t0 + 123 + k, 5, 5, 30.0)
                                for k in range(2)])  # fmt: skip
            await ev.detect()
            taken.append(len(ev.detection.history[("tokyo", "ADC")]))
            await writer.write([ping_line("tokyo", "SJC", t0 + 120 + k, 5, 5, 30.0)
                                for k in range(5)])  # fmt: skip
            await ev.detect()
            judged = len(ev.detection.history[("tokyo", "SJC")])
            # tokyo/SJC's clock steps back 3 s: new rounds older than the last judged one
            await writer.write([ping_line("tokyo", "SJC", t0 + 121.5 + k, 5, 5, 30.0)
                                for k in range(2)])  # fmt: skip
            clock.now = t0 + 126
            await ev.detect()
            await ev.detect()
            return taken, len(ev.detection.history[("tokyo", "SJC")]) - judged
        finally:
            await ql.close()
            await writer.close()

    with caplog.at_level("WARNING", logger="cablewatch.evaluator"):
        taken, sjc = asyncio.run(go())
    assert taken == [0, 0, 0, 5]  # held three passes, then all five judged in order
    assert sjc == 0  # the two stepped-back rounds were not judged
    said = [r.getMessage() for r in caplog.records]
    ahead = [m for m in said if "ahead of this clock" in m]
    assert len(ahead) == 1, said
    assert ahead[0].startswith("tokyo: rounds stamped up to 122 s ahead")
    back = [m for m in said if "stepped back" in m]
    assert back == ["tokyo/SJC: rounds stamped before the last one judged (its agent's clock "
                    "stepped back?): not judged until they are newer"]  # fmt: skip


def test_the_agent_says_once_that_its_clock_is_minutes_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A sink whose Date header is five minutes behind this host (this clock runs ahead): the
    sender exports the offset and says it once, however many writes there are."""
    import email.utils
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Skewed(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(204)
            self.end_headers()

        def date_time_string(self, timestamp: float | None = None) -> str:
            return email.utils.formatdate(time.time() - 300, usegmt=True)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Skewed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    spool = Spool(tmp_path / "spool.db")
    spool.add([(f"s|{k}", [ping_line("tokyo", "SJC", time.time(), 5, 5, 30.0)])
               for k in range(6)])  # fmt: skip
    metrics = AgentMetrics()

    def go() -> None:
        send_spool(spool, InfluxSink(url=url, database="x"), metrics, SenderOptions(batch_points=2))

    try:
        with caplog.at_level("WARNING", logger="cablewatch.sender"):
            go()
    finally:
        server.shutdown()
        server.server_close()
    offset = metrics.registry.get_sample_value("cablewatch_agent_clock_offset_seconds")
    assert offset is not None
    assert 298 <= offset <= 301
    said = [r.getMessage() for r in caplog.records if "clock" in r.getMessage()]
    assert len(said) == 1, said  # three writes, one line
    assert "s ahead of" in said[0]
    assert "stored as stamped" in said[0]
