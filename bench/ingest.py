"""Ingest throughput: spool -> InfluxDB through the agent's sender, against a raw concurrent
``/write`` of the same lines, in the same run, into the same influxd; then the agents' memory
and CPU in the lab.

1. N ping points (the agent's own schema and tags) go to a fresh influxd on loopback twice:
   raw (4 concurrent writers, 5,000 lines a request, no spool) and through the pipeline (the
   real Spool and Sender: SQLite reads and acks, gzip, 4 batches in flight, in-order acks).
   Both databases end up holding all N points (checked).
2. A lab of its own with 9 agents (one per region; the default configuration probed fast:
   3 cables x icmp, tcp, http, dns and ttft at a 1 s interval, traces every 60 s) writing
   to influxd on the management bridge: RSS (max) and CPU (mean of agents) over
   --agent-seconds.

Needs root for part 2. The last line holds the headline figures:

    pipeline_pps=N raw_pps=N ratio=R agent_rss_mib=X agent_cpu_pct=X
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from procstat import cpu_s, status_mib

from cablewatch.agent.sender import Sender, SenderOptions
from cablewatch.agent.spool import Spool
from cablewatch.collectors.exporter import AgentMetrics
from cablewatch.collectors.influx import InfluxV1Writer
from cablewatch.collectors.settings import InfluxSink
from cablewatch.config import load_default
from cablewatch.harness.stack import agent_config, agents, influxd
from cablewatch.lab import manager

BATCH = 5000


def make_lines(n: int) -> list[str]:
    now = time.time_ns() - n * 1000
    tags = "cable=ADC,host=bench,landing_station=shantou,protocol=icmp,region=singapore"
    return [
        f"ping,{tags},target=198.19.1.{i % 200} packets_transmitted=5i,packets_received=5i,"
        f"percent_packet_loss=0.0,minimum_response_ms={30 + i % 7 / 10},average_response_ms=31.2,"
        f'maximum_response_ms=32.0,standard_deviation_ms=0.4,status="ok",result_code=0i '
        f"{now + i * 1000}"
        for i in range(n)
    ]


def count(url: str, db: str) -> int:
    r = httpx.post(f"{url}/query", data={"db": db, "q": "SELECT count(result_code) FROM ping"},
                   timeout=60).json()  # fmt: skip
    series = r["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def raw_write(url: str, db: str, lines: list[str]) -> float:
    httpx.post(f"{url}/query", data={"q": f'CREATE DATABASE "{db}"'}, timeout=30)
    batches = ["\n".join(lines[i : i + BATCH]).encode() for i in range(0, len(lines), BATCH)]
    with httpx.Client(base_url=url, timeout=60) as client:

        def post(body: bytes) -> None:
            r = client.post("/write", params={"db": db, "precision": "ns"}, content=body)
            r.raise_for_status()

        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(post, batches))
        return time.perf_counter() - t0


def pipeline_write(url: str, db: str, lines: list[str], spool_path: Path) -> float:
    httpx.post(f"{url}/query", data={"q": f'CREATE DATABASE "{db}"'}, timeout=30)
    spool = Spool(spool_path, max_bytes=1 << 34)
    for i in range(0, len(lines), 10_000):
        # as an agent commits them: rounds of 6 points (an ICMP round: its summary and a
        # point per reply), about 1,700 rounds a commit
        spool.add(
            [(f"bench|{j}", lines[j : j + 6]) for j in range(i, min(i + 10_000, len(lines)), 6)]
        )

    async def go() -> float:
        pool = concurrent.futures.ThreadPoolExecutor(1)
        loop = asyncio.get_running_loop()

        async def db_call(fn, *args):  # type: ignore[no-untyped-def]
            return await loop.run_in_executor(pool, fn, *args)

        writer = InfluxV1Writer(InfluxSink(url=url, mode="v1", database=db), secret=None)
        sender = Sender(spool, db_call, writer, AgentMetrics(),
                        SenderOptions(batch_points=BATCH, drain_timeout_s=3600))  # fmt: skip
        stop = asyncio.Event()
        stop.set()  # drain what is there, then return
        t0 = time.perf_counter()
        await sender.run(stop)
        elapsed = time.perf_counter() - t0
        await writer.close()
        pool.shutdown()
        return elapsed

    elapsed = asyncio.run(go())
    left = spool.depth().points
    spool.close()
    if left:
        sys.exit(f"pipeline left {left} points in the spool")
    return elapsed


def agents_in_lab(seconds: float, tmp: Path) -> tuple[float, float]:
    opts = manager.LabOptions(state_dir=tmp / "lab", prefix="cwi", mgmt_subnet="198.18.250.0/24")
    state, _ = manager.up(load_default(), opts)
    try:
        host = state["mgmt_host_addr"].split("/")[0]
        with influxd(tmp / "influx-lab", host=host) as server:
            config = agent_config(tmp / "agents.toml", server.url)
            cw = [sys.executable, "-m", "cablewatch"]
            subprocess.run([*cw, "db", "init", "--config", str(config)], check=True,
                           capture_output=True)  # fmt: skip
            with agents(state, config, tmp, listen_port=None) as running:
                procs = list(running.values())
                time.sleep(5)  # past start-up (imports, first rounds)
                cpu0 = [cpu_s(p.pid) for p in procs]
                t0 = time.monotonic()
                time.sleep(seconds)
                wall = time.monotonic() - t0
                cpu_pct = [
                    100 * (cpu_s(p.pid) - c) / wall for p, c in zip(procs, cpu0, strict=True)
                ]
                rss = [status_mib("VmRSS", p.pid) for p in procs]
    finally:
        manager.down(opts)
    return max(rss), sum(cpu_pct) / len(cpu_pct)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=300_000)
    parser.add_argument("--agent-seconds", type=float, default=20.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-ingest-"))
    lines = make_lines(args.points)
    with influxd(tmp / "influx") as server:
        raw_s = raw_write(server.url, "raw", lines)
        pipe_s = pipeline_write(server.url, "pipe", lines, tmp / "spool.db")
        got_raw, got_pipe = count(server.url, "raw"), count(server.url, "pipe")
    if got_raw != args.points or got_pipe != args.points:
        sys.exit(f"points stored: raw {got_raw}, pipeline {got_pipe}, expected {args.points}")
    raw_pps, pipe_pps = args.points / raw_s, args.points / pipe_s
    print(f"{args.points} points: raw concurrent /write {raw_pps:,.0f} points/s, spool -> "
          f"sender -> /write {pipe_pps:,.0f} points/s; both stored all points")  # fmt: skip
    rss, cpu = agents_in_lab(args.agent_seconds, tmp)
    print(f"9 agents (3 cables x 5 protocols at 1 s each, traces): max RSS {rss:.1f} MiB, "
          f"mean CPU {cpu:.1f} % of one core per agent")  # fmt: skip
    print(json.dumps({"raw_s": raw_s, "pipeline_s": pipe_s}), file=sys.stderr)
    print(
        f"pipeline_pps={pipe_pps:.0f} raw_pps={raw_pps:.0f} ratio={pipe_pps / raw_pps:.2f} "
        f"agent_rss_mib={rss:.1f} agent_cpu_pct={cpu:.1f}"
    )


if __name__ == "__main__":
    main()
