"""The bus's throughput and its exactness through a dead node: spooled rounds -> NATS JetStream
(three real nats-server processes, a 3-replica stream) -> `cablewatch ingest` replicas ->
InfluxDB, against a raw concurrent ``/write`` of the same lines into the same influxd, in the
same run.

1. Raw: N ping points (the agent's own schema, rounds of 6 points), 4 concurrent writers,
   5,000 lines a request, into database ``raw``.
2. The bus: the same N points spooled in 9 spools (one an agent), sent by 9 of the agent's
   senders (the real Spool, Sender and BusPublisher: batches fixed in the spool, published
   with their ids, 4 in flight each) to the cluster, and written by --ingest replicas of
   ``cablewatch ingest`` into database ``bus``. When half the batches are published, the
   stream's leader is killed (SIGKILL). Timed from the first publish until InfluxDB holds
   all N points.

Then every message in the stream is read back: ``duplicated`` counts batch ids found twice,
``lost`` the points InfluxDB does not hold. The last line holds the headline figures:

    bus_pps=N raw_pps=N ratio=R publish_gap_s=G publish_pps=P lost=0 duplicated=0 leader_killed=1

``publish_gap_s``: the longest time no publish was acknowledged (the leader's death).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx
import nats
import nats.js.errors
from ingest import count, make_lines, raw_write
from procstat import cpu_s

from cablewatch.agent.sender import Sender, SenderOptions
from cablewatch.agent.spool import Spool
from cablewatch.bus.publish import BACKOFF_MAX_S, BUS_BATCH_BYTES, BusPublisher
from cablewatch.bus.settings import BusSettings
from cablewatch.collectors.exporter import AgentMetrics
from cablewatch.config import default_path
from cablewatch.harness.nats import NatsCluster, nats_cluster, stream_leader, stream_messages
from cablewatch.harness.stack import CABLEWATCH, influxd, stopping

AGENTS = 9
STREAM = "CABLEWATCH_ROUNDS"


def spool_all(lines: list[str], tmp: Path) -> list[Spool]:
    spools = [Spool(tmp / f"agent-{i}.db", max_bytes=1 << 34) for i in range(AGENTS)]
    rounds = [lines[j : j + 6] for j in range(0, len(lines), 6)]
    for i, spool in enumerate(spools):
        mine = rounds[i::AGENTS]
        for k in range(0, len(mine), 2000):
            spool.add([(f"bench|{i}", r) for r in mine[k : k + 2000]])
    return spools


async def consumer_made(urls: list[str]) -> None:
    nc = await nats.connect(urls)
    try:
        for _ in range(600):
            try:
                await nc.jetstream().consumer_info(STREAM, "cablewatch-ingest")
                return
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(0.05)
    finally:
        await nc.close()


class Timed(BusPublisher):
    """The publisher, noting when each publish was acknowledged (the longest gap between two:
    how long the agents could not publish)."""

    acked: ClassVar[list[float]] = []

    async def write(self, lines: list[str], *, rollup: bool = False,
                    key: str | None = None) -> None:  # fmt: skip
        await super().write(lines, rollup=rollup, key=key)
        Timed.acked.append(time.monotonic())


def publish(spools: list[Spool], cluster: NatsCluster, kill: bool) -> tuple[float, str]:
    """Every spool drained to the bus by its own sender; the stream's leader killed when half
    the batches are out. Returns (seconds, the killed node's name)."""
    bus = BusSettings(urls=tuple(cluster.urls))
    total = sum(s.depth().points for s in spools)
    killed = ""

    async def go() -> float:
        nonlocal killed
        pools = [concurrent.futures.ThreadPoolExecutor(1) for _ in spools]
        loop = asyncio.get_running_loop()
        senders = []
        writers = []
        for i, (spool, pool) in enumerate(zip(spools, pools, strict=True)):

            async def db(fn: Any, *args: Any, _pool: Any = pool) -> Any:
                return await loop.run_in_executor(_pool, fn, *args)

            w = Timed(bus, station="shantou", region=f"r{i}", host=f"agent-{i}")
            writers.append(w)
            opts = SenderOptions(batch_points=5000, keyed=True, batch_bytes=BUS_BATCH_BYTES,
                                 backoff_max_s=BACKOFF_MAX_S, drain_timeout_s=3600)  # fmt: skip
            senders.append(Sender(spool, db, w, AgentMetrics(), opts))
        stop = asyncio.Event()
        stop.set()
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(s.run(stop)) for s in senders]
        while not all(t.done() for t in tasks):
            await asyncio.sleep(0.05)
            depths = await asyncio.gather(
                *(loop.run_in_executor(p, s.depth) for p, s in zip(pools, spools, strict=True))
            )
            left = sum(d.points for d in depths)
            if kill and not killed and left and left <= total / 2:
                killed = await stream_leader(cluster.urls, STREAM)
                next(n for n in cluster.nodes if n.name == killed).kill()
                print(f"killed the stream's leader {killed} with {left} points to publish")
        elapsed = time.perf_counter() - t0
        for w in writers:
            await w.close()
        return elapsed

    return asyncio.run(go()), killed


def _cpu(pid: int) -> float:
    """CPU seconds of ``pid``; 0 for one that died (a killed node's are not counted)."""
    try:
        return cpu_s(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=300_000)
    ap.add_argument("--ingest", type=int, default=2, help="cablewatch ingest replicas")
    ap.add_argument("--no-kill", action="store_true", help="leave the stream's leader alive")
    args = ap.parse_args()
    lines = make_lines(args.points)
    with tempfile.TemporaryDirectory(prefix="cw-bus-") as d:
        tmp = Path(d)
        with influxd(tmp / "influx") as influx, nats_cluster(tmp / "nats") as cluster:
            raw_s = raw_write(influx.url, "raw", lines)
            raw_pps = args.points / raw_s
            print(f"raw /write: {args.points} points in {raw_s:.2f} s: {raw_pps:,.0f} points/s")
            # as the raw reference's database: no rollup queries (the test influxd runs them
            # every second, which would charge their cost to the bus)
            httpx.post(f"{influx.url}/query", data={"q": 'CREATE DATABASE "bus"'}, timeout=30)
            config = tmp / "bus.toml"
            config.write_text(
                default_path().read_text() + f"\n[sinks.influxdb]\nurl = "
                f'"{influx.url}"\ndatabase = "bus"\n' + cluster.bus_section()
            )
            spools = spool_all(lines, tmp)
            logs = [tmp / f"ingest-{i}.log" for i in range(args.ingest)]
            procs = []
            for log in logs:
                with log.open("ab") as out:
                    procs.append(subprocess.Popen([*CABLEWATCH, "ingest", "--config",
                                                   str(config)], stdout=out,
                                                  stderr=subprocess.STDOUT))  # fmt: skip
            with stopping(procs):
                asyncio.run(consumer_made(cluster.urls))  # ingest made the stream: start
                who = {"nats-server x3": [n.server.proc.pid for n in cluster.nodes
                                          if n.server.proc is not None],
                       "ingest": [p.pid for p in procs], "senders (this process)": [os.getpid()],
                       "influxd": [influx.proc.pid] if influx.proc else []}  # fmt: skip
                cpu0 = {k: sum(cpu_s(p) for p in pids) for k, pids in who.items()}
                t0 = time.perf_counter()
                publish_s, killed = publish(spools, cluster, not args.no_kill)
                print(f"published by {AGENTS} senders in {publish_s:.2f} s")
                deadline = time.monotonic() + 600
                while (held := count(influx.url, "bus")) < args.points:
                    if time.monotonic() > deadline or all(p.poll() is not None for p in procs):
                        print("ingest: " + "".join(log.read_text()[-600:] for log in logs))
                        break
                    time.sleep(0.2)
                bus_s = time.perf_counter() - t0
                spent = {k: sum(_cpu(p) for p in pids) - cpu0[k] for k, pids in who.items()}
                print("CPU seconds while the bus ran: " +
                      ", ".join(f"{k} {v:.1f}" for k, v in spent.items()))  # fmt: skip
            for s in spools:
                if s.depth().points:
                    sys.exit(f"a spool kept {s.depth().points} points")
                s.close()
            held_msgs = asyncio.run(stream_messages(cluster.urls, STREAM))
            messages, distinct = len(held_msgs), len({key for key, _ in held_msgs})
    bus_pps = args.points / bus_s
    print(
        f"bus: {held} of {args.points} points in InfluxDB after {bus_s:.2f} s: "
        f"{bus_pps:,.0f} points/s; {messages} messages, {distinct} distinct ids"
    )
    acked = sorted(Timed.acked)
    gap_s = max(b - a for a, b in itertools.pairwise(acked))
    print(
        f"bus_pps={bus_pps:.0f} raw_pps={raw_pps:.0f} ratio={bus_pps / raw_pps:.2f} "
        f"publish_gap_s={gap_s:.2f} publish_pps={args.points / publish_s:.0f} "
        f"lost={args.points - held} "
        f"duplicated={messages - distinct} leader_killed={int(bool(killed))}"
    )


if __name__ == "__main__":
    main()
