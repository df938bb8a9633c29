"""The evaluator reads only what is new (evaluator/source_influx.py), against a real influxd:
late rounds are still judged, none twice, and every decision is the one a full re-read of the
same stored rounds makes."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import Clock
from rounds_helpers import Recording, decisions, fault_lines, round_key

from cablewatch.collectors.influx import InfluxQL, InfluxV1Writer
from cablewatch.config import load
from cablewatch.evaluator.service import Evaluator
from cablewatch.evaluator.source_influx import InfluxRounds
from cablewatch.harness.stack import Server, influxd, init_db
from cablewatch.harness.synthetic import CABLES, region_id, round_line, write_config

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with influxd(tmp_path_factory.mktemp("incremental") / "influx") as server:
        yield server


def _recorded(ev: Evaluator, *, incremental: bool) -> Recording:
    d = ev.detection
    inner = InfluxRounds(ev.ql, d.detectors, due_s=d.due_s(ev.config.evaluator.poll_s),
                         lookback_s=d.stale_s, incremental=incremental)  # fmt: skip
    ev.source = rec = Recording(inner)
    return rec


def test_a_round_written_5_s_late_is_judged_once_and_the_on_time_rest_read_once(
    influx: Server, tmp_path: Path
) -> None:
    """30 regions (90 paths), rounds every second, each written a second after it started;
    region 7's agent holds its rounds for five seconds (its sink away), then writes them in
    one batch: the first 5 s late. Every round is given to detection exactly once, the late
    ones at the first pass after they were written; a pass reads about one row a path (a full
    re-read: ten)."""
    regions, late = 30, 7
    init_db(influx.url, "late")
    config = load(write_config(tmp_path / "cw.toml", influx.url, "late", regions, 5))
    sink = config.influx("tests")
    t0 = float(int(time.time()) - 120)
    held = {t0 + s for s in range(14, 19)}  # region 7's rounds that started then ...
    written_at = t0 + 20  # ... are written at this second (normally: a second after start)

    async def go() -> tuple[Evaluator, Recording, dict[float, float]]:
        ql, writer = InfluxQL(sink), InfluxV1Writer(sink, secret=None)
        try:
            await writer.write([round_line(i, k, t0 - 11 + s) for s in range(10)
                                for i in range(regions) for k in range(3)])  # fmt: skip
            clock = Clock(t0)
            ev = Evaluator(config, ql, clock=clock)
            rec = _recorded(ev, incremental=True)
            await ev.warm_up()
            given_at: dict[float, float] = {}
            for s in range(0, 30):
                clock.now = now = t0 + s
                stamp = now - 1
                lines = [round_line(i, k, stamp) for i in range(regions) for k in range(3)
                         if not (i == late and stamp in held)]  # fmt: skip
                if now == written_at:
                    lines += [round_line(late, k, t) for t in sorted(held) for k in range(3)]
                await writer.write(lines)
                await ev.detect()
                for r in rec.polls[-1].rounds:
                    if r.region == region_id(late):
                        given_at.setdefault(r.time_s, now)
            return ev, rec, given_at
        finally:
            await ql.close()
            await writer.close()

    ev, rec, given_at = asyncio.run(go())
    given = [(r.region, r.cable, r.time_s) for p in rec.polls for r in p.rounds]
    assert len(given) == len(set(given))  # none twice
    expected = {(region_id(i), c, t0 + s - 1) for s in range(30) for i in range(regions)
                for c in CABLES}  # fmt: skip
    assert set(given) == expected  # none lost, the late ones included
    assert {t: given_at[t] for t in held} == dict.fromkeys(held, written_at)
    for key, history in ev.detection.history.items():
        times = [history.time(k) for k in range(len(history))]
        assert times == sorted(set(times)), key  # judged in order, each once
        assert len(times) == 10 + 30, key
    paths = regions * 3
    rows = {round(t0 + s): p.rows for s, p in enumerate(rec.polls)}
    due_s = ev.detection.due_s(config.evaluator.poll_s)
    first, lagging = round(min(held)), round(written_at)
    behind = round(min(held) - 1 + due_s) + 1  # region 7 read on its own from here on
    for now, n in rows.items():
        if now < first + 1 or now > lagging:
            assert n == paths, (now - t0, rows)  # each path's newest round, once
        elif now < behind:
            # region 7 a little late: every path read from its newest round, at most due_s
            assert n <= paths * int(due_s), (now - t0, rows)
        else:
            # region 7 behind: its three paths' last lookback, the others' newest round
            assert n <= paths + 3 * int(ev.detection.stale_s + 1), (now - t0, rows)


def test_incremental_reads_decide_as_a_full_re_read_over_a_minute_of_2700_paths(
    influx: Server, tmp_path: Path
) -> None:
    """A recorded minute of 2,700 paths (900 regions x 3 cables) written second by second into
    influxd, with a cable cut, a latency step, partial loss, and region 899's rounds of eight
    seconds held by its agent and written in one batch (the first 8 s late): two evaluators
    poll after every second, one reading only what is new, one re-reading the last stale_s
    of every path. At every pass they are given the same rounds and decide the same
    (transitions, path states, recommendations), and their SLA figures after the minute are
    the same; the incremental one reads a fraction of the rows."""
    regions, late = 900, 899
    init_db(influx.url, "minute")
    config = load(write_config(tmp_path / "cw.toml", influx.url, "minute", regions, 5, sla=True))
    sink = config.influx("tests")
    t0 = float(int(time.time()) - 120)
    held = {t0 + s for s in range(46, 54)}

    async def go() -> tuple[list[Any], list[Any], Recording, Recording]:
        ql, writer = InfluxQL(sink), InfluxV1Writer(sink, secret=None)
        try:
            await writer.write([round_line(i, k, t0 - 11 + s) for s in range(10)
                                for i in range(regions) for k in range(3)])  # fmt: skip
            clocks = Clock(t0), Clock(t0)
            evs = [Evaluator(config, ql, clock=c) for c in clocks]
            recs = [_recorded(evs[0], incremental=True), _recorded(evs[1], incremental=False)]
            for ev in evs:
                await ev.warm_up()
            passes: list[list[Any]] = [[], []]
            for s in range(0, 62):
                now = t0 + s
                stamp = now - 1
                lines = [fault_lines(i, k, s - 1, stamp) for i in range(regions)
                         for k in range(3) if not (i == late and stamp in held)]  # fmt: skip
                if s == 55:  # its agent's sink back: 8 s after the first started, in one batch
                    lines += [fault_lines(late, k, int(t - t0), t) for t in sorted(held)
                              for k in range(3)]  # fmt: skip
                await writer.write(lines)
                for ev, clock, out in zip(evs, clocks, passes, strict=True):
                    clock.now = now
                    out.append(decisions(ev, await ev.detect()))
            slas = [[dataclasses.asdict(x) for x in await ev.evaluate_sla(write=False)]
                    for ev in evs]  # fmt: skip
            return [passes[0], slas[0]], [passes[1], slas[1]], recs[0], recs[1]
        finally:
            await ql.close()
            await writer.close()

    (inc, inc_sla), (full, full_sla), rec_inc, rec_full = asyncio.run(go())
    for k, (a, b) in enumerate(zip(rec_inc.polls, rec_full.polls, strict=True)):
        assert sorted(a.rounds, key=round_key) == sorted(b.rounds, key=round_key), f"pass {k}"
    for k, (a, b) in enumerate(zip(inc, full, strict=True)):
        assert a == b, f"pass {k}"
    assert inc_sla == full_sla
    raised = {(t[1], t[2]) for p in inc for t in p["transitions"] if t[0] == "raised"}
    assert ("cable", "SJC") in raised  # the minute's faults were seen, not an empty compare
    assert inc[-1]["version"] > 0  # and recommendations made
    rows_inc = sum(p.rows for p in rec_inc.polls)
    rows_full = sum(p.rows for p in rec_full.polls)
    assert rows_inc * 4 < rows_full, (rows_inc, rows_full)
