"""Baseline shifts through the evaluator against a real influxd: a path whose minimum RTT
steps up 3.5 ms, less than a fault, is one info event (raised within a minute, its size and
start in its summary, a ``baseline_shift`` point), no fault; the other paths raise nothing.
A NOC accepts it through the gateway API: resolved ("accepted"), and the step, still there,
raises nothing again."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipeline_helpers import Clock

from cablewatch.collectors.influx import InfluxQL, InfluxV1Writer
from cablewatch.config import load
from cablewatch.evaluator.service import Evaluator
from cablewatch.evaluator.view import EvaluatorView
from cablewatch.gateway.api import OPERATOR, create_app
from cablewatch.gateway.source import EvaluatorSource
from cablewatch.harness.stack import Server, influxd, init_db
from cablewatch.harness.synthetic import round_line, write_config

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with influxd(tmp_path_factory.mktemp("shift") / "influx") as server:
        yield server


def test_a_3_5_ms_step_is_one_info_shift_event_and_no_fault(influx: Server,
                                                              tmp_path: Path) -> None:  # fmt: skip
    init_db(influx.url, "shift")
    config = load(write_config(tmp_path / "cw.toml", influx.url, "shift", 3, 5))
    sink = config.influx("tests")
    t0 = float(int(time.time()) - 400)
    step_at = t0 + 100

    async def go() -> tuple[list[Any], Evaluator, dict[str, Any]]:
        ql, writer = InfluxQL(sink), InfluxV1Writer(sink, secret=None)
        try:
            await writer.write([round_line(i, k, t0 - 100 + s) for s in range(100)
                                for i in range(3) for k in range(3)])  # fmt: skip
            clock = Clock(t0)
            ev = Evaluator(config, ql, writer=writer, clock=clock)
            await ev.warm_up()
            changes = []
            for s in range(200):
                clock.now = now = t0 + s
                stamp = now - 1
                extra = 3.5 if stamp >= step_at else 0.0
                await writer.write([round_line(i, k, stamp,
                                               extra_ms=extra if (i, k) == (1, 1) else 0.0)
                                    for i in range(3) for k in range(3)])  # fmt: skip
                changes += [(now, t) for t in await ev.detect()]
                await ev.flush()
            raised = copy.deepcopy(ev.shift_events)  # as raised (resolving changes it)
            accepted = await _accept_over_the_api(ev)
            for s in range(200, 300):  # the step stays: the new normal, nothing raised again
                clock.now = now = t0 + s
                await writer.write([round_line(i, k, now - 1,
                                               extra_ms=3.5 if (i, k) == (1, 1) else 0.0)
                                    for i in range(3) for k in range(3)])  # fmt: skip
                changes += [(now, t) for t in await ev.detect()]
                assert ev.shift_events == {}, s
                await ev.flush()
            ev.shift_events = raised  # for the assertions on the raised event below
            return changes, ev, accepted
        finally:
            await ql.close()
            await writer.close()

    faults, ev, accepted = asyncio.run(go())
    assert faults == []  # no fault event: 3.5 ms is below the detector's step
    [(key, rec)] = ev.shift_events.items()
    assert key == ("r00001", "SJC")
    assert rec.event.scope == "shift"
    assert rec.event.severity == "info"
    raised = rec.event.raised_s
    assert raised is not None
    assert raised - step_at <= 60  # within a minute of the step at 1 s rounds
    since = time.strftime("%H:%M", time.gmtime(rec.start_s))
    assert rec.event.note.startswith("r00001/SJC: +3.")
    assert rec.event.note.endswith(f" ms since {since} UTC, no route change seen")
    assert abs(rec.start_s - step_at) <= 42  # the start's noise (tests/unit/test_shift.py)
    r = httpx.post(f"{influx.url}/query", params={"db": "shift", "epoch": "s"},
                   data={"q": 'SELECT "state", "delta_ms", "summary" FROM "baseline_shift" '
                         'GROUP BY "region", "cable"'}, timeout=10)  # fmt: skip
    [series] = r.json()["results"][0]["series"]
    assert series["tags"] == {"region": "r00001", "cable": "SJC"}
    [[_t, state, delta, summary]] = series["values"]  # one point: raised, then resolved
    assert state == "resolved"
    assert 3.0 <= delta <= 4.0
    assert summary == accepted["summary"]
    assert summary.startswith(rec.event.note)
    assert summary.endswith("; accepted as the new normal by the NOC")


async def _accept_over_the_api(ev: Evaluator) -> dict[str, Any]:
    """The NOC's word through the gateway API, on the evaluator's loop as `serve` runs it:
    accepted once (then 409), unknown paths 404, no token refused."""
    app = create_app(EvaluatorSource(EvaluatorView(ev)), {"noc": OPERATOR})
    noc = {"Authorization": "Bearer noc"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        assert (await client.post("/v1/shifts/r00001/SJC/accept")).status_code == 401
        ok = await client.post("/v1/shifts/r00001/SJC/accept", headers=noc)
        assert ok.status_code == 200, ok.text
        again = await client.post("/v1/shifts/r00001/SJC/accept", headers=noc)
        assert again.status_code == 409
        assert again.json()["detail"] == "no open baseline shift on r00001/SJC"
        for path in ("/v1/shifts/r00001/NOPE/accept", "/v1/shifts/r99999/SJC/accept"):
            assert (await client.post(path, headers=noc)).status_code == 404
    body: dict[str, Any] = ok.json()
    assert (body["region"], body["cable"]) == ("r00001", "SJC")
    return body
