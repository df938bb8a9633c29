"""Agents -> NATS JetStream (three real nats-server processes, clustered) -> `cablewatch
ingest` (two replicas) -> InfluxDB: every round the agents measured stored once, through a
dead NATS node, a dead ingest replica, an agent killed with SIGKILL and an InfluxDB outage;
a replay dropped by the server as a duplicate; and the bad inputs (no server answers, a stream
made with other settings) said in one line."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
from conftest import DATA, cablewatch_cmd
from lab_helpers import Lab
from pipeline_helpers import influx_counts, judged_against_stored, spool_report
from waiting import wait_until

from cablewatch.agent.sender import Sender, SenderOptions
from cablewatch.agent.spool import Spool
from cablewatch.bus.publish import BusPublisher
from cablewatch.bus.settings import BusSettings
from cablewatch.collectors.exporter import AgentMetrics
from cablewatch.errors import BusError
from cablewatch.harness.nats import NatsCluster, nats_cluster, stream_leader, stream_messages
from cablewatch.harness.stack import (
    CABLEWATCH,
    agent_config,
    agents,
    evaluator,
    free_port,
    influxd,
    init_db,
    scrape,
    start_agent,
    stopping,
)

pytestmark = [pytest.mark.netns, pytest.mark.servers]

STREAM = "CABLEWATCH_ROUNDS"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    with nats_cluster(tmp_path_factory.mktemp("nats")) as c:
        yield c


def _loopback_config(tmp: Path, bus: str) -> Path:
    path = tmp / "bus.toml"
    path.write_text((DATA / "valid-loopback.toml").read_text() + bus)
    return path


TOKEN_ENV = os.environ | {"CABLEWATCH_INFLUX_TOKEN": "not-checked-by-influxdb-1.x"}


def _ingest(config: Path, log: Path, listen: str = "") -> subprocess.Popen[bytes]:
    metrics = ["--listen", listen] if listen else []
    with log.open("ab") as out:
        return subprocess.Popen([*CABLEWATCH, "ingest", "--config", str(config), *metrics],
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def test_ingest_with_no_server_answering_is_one_line_exit_2(tmp_path: Path) -> None:
    urls = [f"nats://127.0.0.1:{free_port()}" for _ in range(2)]
    config = _loopback_config(tmp_path, "\n[bus]\nurls = [" +
                              ", ".join(f'"{u}"' for u in urls) + "]\n")  # fmt: skip
    proc = subprocess.run(cablewatch_cmd("ingest", "--config", str(config)), env=TOKEN_ENV,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"cablewatch: bus {', '.join(urls)}: no server answered\n"


def test_a_stream_made_with_other_settings_is_named_in_one_line(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    async def make() -> None:
        nc = await nats.connect(cluster.urls)
        js = nc.jetstream()
        await js.add_stream(name="OTHER", subjects=["other.>"], num_replicas=1,
                            duplicate_window=60, max_age=86400)  # fmt: skip
        await nc.close()

    asyncio.run(make())
    config = _loopback_config(tmp_path, cluster.bus_section(stream="OTHER",
                                                            subject="other"))  # fmt: skip
    proc = subprocess.run(cablewatch_cmd("ingest", "--config", str(config)), env=TOKEN_ENV,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        f"cablewatch: bus {', '.join(cluster.urls)}: stream OTHER exists with num_replicas = "
        "1, cablewatch needs 3 (and duplicate_window): change it (nats stream edit / "
        "consumer rm) or name another in [bus]\n"
    )


class LosingAcks:
    """The real publisher, but every third acknowledgement is lost on the way back (the
    batch is stored; the sender hears a failure): what a node dying after it stored a
    publish looks like to an agent."""

    def __init__(self, inner: BusPublisher) -> None:
        self.inner = inner
        self.name = inner.name
        self.clock_offset_s: float | None = None
        self.calls = 0

    async def write(
        self, lines: list[str], *, rollup: bool = False, key: str | None = None
    ) -> None:
        await self.inner.write(lines, key=key)
        self.calls += 1
        if self.calls % 3 == 0:
            raise BusError(self.name, "unreachable", "publish not acknowledged: timeout")

    async def close(self) -> None:
        await self.inner.close()


def test_a_replayed_batch_is_dropped_by_the_server_as_a_duplicate(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    bus = BusSettings(urls=tuple(cluster.urls), stream="REPLAY", subject="replay")
    spool = Spool(tmp_path / "s.db")
    rounds = [f"ping,region=sg result_code=0i {i}" for i in range(300)]
    for r in rounds:
        spool.add([("ping|sg|ADC", [r])])
    writer = LosingAcks(BusPublisher(bus, station="shantou", region="sg", host="sg-1"))

    async def db(fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    async def go() -> list[tuple[str, str]]:
        opts = SenderOptions(batch_points=10, in_flight=4, keyed=True, batch_bytes=100_000,
                             backoff_initial_s=0.01, backoff_max_s=0.01)  # fmt: skip
        stop = asyncio.Event()
        stop.set()
        await Sender(spool, db, writer, AgentMetrics(), opts).run(stop)
        await writer.close()
        return await stream_messages(cluster.urls, "REPLAY")

    messages = asyncio.run(go())
    assert spool.depth().points == 0
    assert writer.inner.duplicates > 0  # the server said so for each replay
    ids = [key for key, _ in messages]
    assert len(ids) == len(set(ids)) == 30  # 300 rounds, 10 a batch: each batch once
    stored = [ln for _, body in messages for ln in body.split("\n")]
    assert sorted(stored) == sorted(rounds)


# -- the lab, end to end ---------------------------------------------------------------------


@dataclass
class Run:
    spools: dict[str, Path]
    counts: dict[str, int]
    """Rounds InfluxDB holds per series, once the bus was drained."""
    messages: list[tuple[str, str]]
    killed_node: str
    killed_at: datetime.datetime
    judged: Path
    """The rounds the evaluator, reading the bus, judged (its record_inputs)."""
    judge_exit: int | None
    ingest_exits: list[int | None]
    """How each ingest replica stood at the end of the run (None: still running)."""
    ingest_logs: list[Path]
    agent_logs: dict[str, Path]
    influx_url: str
    ingest_metrics: dict[str, float]
    """The surviving ingest replica's metrics once the stream was drained."""


def _consumer_drained(urls: list[str]) -> bool:
    async def go() -> bool:
        nc = await nats.connect(urls)
        try:
            info = await nc.jetstream().consumer_info(STREAM, "cablewatch-ingest")
            return bool(info.num_pending == 0 and info.num_ack_pending == 0)
        finally:
            await nc.close()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("bus")
    state = json.loads((lab.state_dir / "lab.json").read_text())
    host = state["mgmt_host_addr"].split("/")[0]
    with influxd(tmp / "influx", host=host) as influx, \
            nats_cluster(tmp / "nats", host=host) as c:  # fmt: skip
        config = agent_config(tmp / "agents.toml", influx.url, protocols=("icmp", "tcp"),
                              record_inputs=tmp / "judged.jsonl")  # fmt: skip
        with config.open("a") as f:
            f.write(c.bus_section(ack_wait_s=5.0))
        init_db(influx.url)
        logs = [tmp / "ingest-1.log", tmp / "ingest-2.log"]
        listen = f"127.0.0.1:{free_port()}"  # the replica that is never killed
        ingests = [_ingest(config, logs[0]), _ingest(config, logs[1], listen)]
        with stopping(ingests):  # outlive the agents: they drain their spools to the bus
            with evaluator(config, tmp / "evaluate.log", f"127.0.0.1:{free_port()}") as judge, \
                    agents(state, config, tmp, listen_port=None) as procs:  # fmt: skip
                t0 = time.monotonic()

                def at(s: float) -> None:
                    wait_until(lambda: time.monotonic() - t0 >= s, s + 30, f"{s} s of the run")

                at(8)
                # the stream's leader dies: a new one is elected
                killed = asyncio.run(stream_leader(c.urls, STREAM))
                next(n for n in c.nodes if n.name == killed).kill()
                killed_at = datetime.datetime.now()  # the logs' local time
                at(14)
                ingests[0].send_signal(signal.SIGKILL)  # its batches in flight go to the other
                ingests[0].wait(10)
                procs["jakarta"].send_signal(signal.SIGKILL)
                procs["jakarta"].wait(10)
                at(18)
                procs["jakarta"] = start_agent(state, "jakarta", config, tmp, listen_port=None)
                influx.stop()  # ingest holds its batches and retries; agents go on publishing
                at(28)
                influx.start()
                ingests[0] = _ingest(config, logs[0])
                at(40)
                judge_exit = judge.poll()
            # the agents stopped (each drained its spool to the bus); the ingest replicas go on
            wait_until(lambda: _consumer_drained(c.urls), 60, "ingest drained the stream",
                       poll_s=0.5)  # fmt: skip
            messages = asyncio.run(stream_messages(c.urls, STREAM))
            exits = [p.poll() for p in ingests]
            url = f"http://{listen}/metrics"
            wait_until(lambda: scrape(url)["cablewatch_ingest_pending_batches"] == 0, 15,
                       "the replica's pending gauge at 0")  # fmt: skip
            scraped = scrape(url)
        regions = list(state["region_ns"])
        yield Run({r: tmp / f"{r}.db" for r in regions}, influx_counts(influx.url, "cw"),
                  messages, killed, killed_at, tmp / "judged.jsonl", judge_exit, exits, logs,
                  {r: tmp / f"{r}.log" for r in regions}, influx.url, scraped)  # fmt: skip


def test_influxdb_holds_every_round_the_agents_measured_once(run: Run) -> None:
    """Each agent's own count of rounds made (its spool's) against the rounds InfluxDB holds
    for the same series: none lost, none twice (InfluxDB would keep a replayed round once
    anyway: the stream itself is checked in the next test)."""
    for region, spool in run.spools.items():
        report = spool_report(spool)
        assert report["points_pending"] == 0, region  # every batch acknowledged by the stream
        made = report["rounds"]
        assert made, region
        got = {k: v for k, v in run.counts.items() if k.split("|")[1] == region}
        assert got == made, region


def test_the_stream_holds_each_spooled_batch_once(run: Run) -> None:
    """Every message's id is its spool's id and row span; no id twice, no row in two
    messages, every round in one (the replays after the dead node and the SIGKILL were
    dropped by the server)."""
    ids = [key for key, _ in run.messages]
    assert all(ids)
    assert len(ids) == len(set(ids))
    spans: dict[str, list[tuple[int, int]]] = {}
    for key in ids:
        m = re.fullmatch(r"([0-9a-f]{32}):(\d+)-(\d+)", key)
        assert m, key
        spans.setdefault(m[1], []).append((int(m[2]), int(m[3])))
    assert len(spans) == len(run.spools)  # one spool a region (jakarta's survived its kill)
    for rows in spans.values():
        rows.sort()
        assert all(a[1] < b[0] for a, b in itertools.pairwise(rows)), rows
    rounds = sum(body.count("result_code=") for _, body in run.messages)
    assert rounds == sum(run.counts.values())


def test_every_fault_was_met_and_said(run: Run) -> None:
    """The run did what it claims: agents lost the leader and published again; ingest met
    the InfluxDB outage, and a replica restarted."""
    after = [ln for p in run.agent_logs.values() for ln in p.read_text().splitlines()
             if ln[:4].isdigit() and _logged_at(ln) >= run.killed_at]  # fmt: skip
    failed = ("bus: lost the connection", "publish not acknowledged", "no stream")
    assert any(f in ln for ln in after for f in failed), "no agent met the leader's death"
    ingest = "".join(p.read_text() for p in run.ingest_logs)
    assert "retrying in" in ingest
    assert "takes writes again" in ingest
    assert "Traceback" not in ingest
    assert run.ingest_exits == [None, None]  # neither replica died of what it met


def test_the_evaluator_judged_from_the_bus_what_influxdb_holds(run: Run) -> None:
    """`cablewatch evaluate` with [bus] takes its rounds from the stream (pushed, through the
    leader's death): every round it judged is the round InfluxDB holds for that path and
    start, and it judged rounds of every region."""
    assert run.judge_exit is None  # alive through the faults
    judged, wrong = judged_against_stored(run.judged, run.influx_url, "cw")
    assert wrong == []
    from cablewatch.evaluator.record import read_record

    regions = {r.region for _t, r in read_record(run.judged)}
    assert regions == set(run.spools)
    assert judged >= 9 * 3 * 25  # 27 paths, most of 40 s of rounds


def _logged_at(line: str) -> datetime.datetime:
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def test_an_ingest_replica_says_what_it_wrote(run: Run) -> None:
    """Its metrics: the batches it wrote and acknowledged (some of the stream's, the other
    replica had its share), their points, the InfluxDB outage's failed writes, nothing left."""
    m = run.ingest_metrics
    assert 0 < m["cablewatch_ingest_batches_total"] <= len(run.messages)
    assert m["cablewatch_ingest_points_total"] >= m["cablewatch_ingest_batches_total"]
    assert m["cablewatch_ingest_pending_batches"] == 0
