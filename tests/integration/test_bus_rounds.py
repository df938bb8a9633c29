"""Detection does not know where its rounds come from: a recorded minute of 300 paths,
published on the bus (three clustered nats-server processes) as agents publish (a batch a
region a second) and written to InfluxDB, judged by two evaluators, one reading InfluxDB only
for what is new, one taking the batches the bus pushes: at every pass they are given the same
rounds and decide the same, a region's rounds held 8 s by its agent included."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from pipeline_helpers import Clock
from rounds_helpers import Recording, decisions, fault_lines, round_key

from cablewatch.bus.client import ensure_stream
from cablewatch.bus.settings import BusSettings
from cablewatch.collectors.influx import InfluxQL, InfluxV1Writer
from cablewatch.config import load
from cablewatch.evaluator.service import Evaluator
from cablewatch.evaluator.source_bus import BusRounds
from cablewatch.evaluator.source_influx import InfluxRounds
from cablewatch.harness.nats import NatsCluster, nats_cluster
from cablewatch.harness.stack import Server, influxd, init_db
from cablewatch.harness.synthetic import region_id, write_config

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, NatsCluster]]:
    tmp = tmp_path_factory.mktemp("bus-rounds")
    with influxd(tmp / "influx") as influx, nats_cluster(tmp / "nats") as cluster:
        yield influx, cluster


def test_rounds_from_the_bus_decide_as_rounds_from_influxdb(
    servers: tuple[Server, NatsCluster], tmp_path: Path
) -> None:
    influx, cluster = servers
    regions, late = 100, 99
    init_db(influx.url, "minute")
    config = load(write_config(tmp_path / "cw.toml", influx.url, "minute", regions, 5, sla=True))
    sink = config.influx("tests")
    bus = BusSettings(urls=tuple(cluster.urls), stream="ROUNDS", subject="rounds")
    t0 = float(int(time.time()) - 120)
    held = {t0 + s for s in range(46, 54)}

    async def go() -> tuple[list[Any], list[Any], Recording, Recording, int]:
        ql, writer = InfluxQL(sink), InfluxV1Writer(sink, secret=None)
        nc = await nats.connect(cluster.urls)
        js = nc.jetstream()
        await ensure_stream(js, bus)
        last_seq = 0

        async def publish(lines_by_region: dict[int, list[str]]) -> None:
            nonlocal last_seq
            for i, lines in sorted(lines_by_region.items()):
                ack = await js.publish(f"rounds.shantou.{region_id(i)}", "\n".join(lines).encode())
                last_seq = ack.seq

        def by_region(lines: list[tuple[int, str]]) -> dict[int, list[str]]:
            out: dict[int, list[str]] = {}
            for i, text in lines:
                out.setdefault(i, []).append(text)
            return out

        try:
            warm = [(i, fault_lines(i, k, 0, t0 - 11 + s)) for s in range(10)
                    for i in range(regions) for k in range(3)]  # fmt: skip
            await writer.write([text for _i, text in warm])
            await publish(by_region(warm))
            clocks = Clock(t0), Clock(t0)
            evs = [Evaluator(config, ql, clock=c) for c in clocks]
            d = evs[0].detection
            due_s = d.due_s(config.evaluator.poll_s)
            from_bus = BusRounds(js, bus, "shantou", d.detectors, lookback_s=d.stale_s,
                                 due_s=due_s)  # fmt: skip
            recs = [Recording(InfluxRounds(ql, d.detectors, due_s=due_s, lookback_s=d.stale_s)),
                    Recording(from_bus)]  # fmt: skip
            for ev, rec in zip(evs, recs, strict=True):
                ev.source = rec
                await ev.warm_up()
            passes: list[list[Any]] = [[], []]
            for s in range(0, 62):
                now = t0 + s
                stamp = now - 1
                lines = [(i, fault_lines(i, k, s - 1, stamp)) for i in range(regions)
                         for k in range(3) if not (i == late and stamp in held)]  # fmt: skip
                if s == 55:  # its agent's sink back: 8 s after the first started, in one batch
                    lines += [(late, fault_lines(late, k, int(t - t0), t)) for t in sorted(held)
                              for k in range(3)]  # fmt: skip
                await writer.write([text for _i, text in lines])
                await publish(by_region(lines))
                deadline = time.monotonic() + 10  # every batch published has been pushed
                while from_bus.received_seq < last_seq:
                    assert time.monotonic() < deadline, "the bus did not push what it took"
                    await asyncio.sleep(0.01)
                for ev, clock, out in zip(evs, clocks, passes, strict=True):
                    clock.now = now
                    out.append(decisions(ev, await ev.detect()))
            await from_bus.close()
            return passes[0], passes[1], recs[0], recs[1], last_seq
        finally:
            await ql.close()
            await writer.close()
            await nc.close()

    from_influx, from_bus, rec_influx, rec_bus, published = asyncio.run(go())
    assert published > 62 * regions  # a batch a region a second reached the stream
    for k, (a, b) in enumerate(zip(rec_influx.polls, rec_bus.polls, strict=True)):
        assert sorted(a.rounds, key=round_key) == sorted(b.rounds, key=round_key), f"pass {k}"
    for k, (a, b) in enumerate(zip(from_influx, from_bus, strict=True)):
        assert a == b, f"pass {k}"
    given = [(r.region, r.cable, r.time_s) for p in rec_bus.polls for r in p.rounds]
    assert len(given) == len(set(given))  # none twice
    assert {(region_id(late), "ADC", t) in set(given) for t in held} == {True}  # late, judged
    raised = {(t[1], t[2]) for p in from_bus for t in p["transitions"] if t[0] == "raised"}
    assert ("cable", "SJC") in raised  # the minute's faults were seen, not an empty compare
