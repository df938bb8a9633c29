"""What the pipeline tests write and read back: ICMP rounds as an agent writes them, InfluxDB's
rounds per series, an agent's spool report."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from conftest import cablewatch_cmd

from cablewatch.agent.sender import Sender, SenderOptions
from cablewatch.agent.spool import Spool
from cablewatch.collectors.exporter import AgentMetrics
from cablewatch.collectors.influx import InfluxV1Writer, Writer
from cablewatch.collectors.lineprotocol import line
from cablewatch.collectors.settings import InfluxSink


class Clock:
    """An evaluator's clock that a test steps."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def send_spool(spool: Spool, sink: InfluxSink, metrics: AgentMetrics, opts: SenderOptions,
               writer: Writer | None = None) -> None:  # fmt: skip
    """An agent's sender on ``spool`` until it is drained (or gives up), as the agent runs it:
    the spool's work on a thread of its own."""

    async def go() -> None:
        pool = concurrent.futures.ThreadPoolExecutor(1)
        loop = asyncio.get_running_loop()

        async def db(fn: Callable[..., Any], *args: Any) -> Any:
            return await loop.run_in_executor(pool, fn, *args)

        out = writer or InfluxV1Writer(sink, secret=None)
        stop = asyncio.Event()
        stop.set()  # send what is spooled, then return
        await Sender(spool, db, out, metrics, opts).run(stop)
        await out.close()
        pool.shutdown()

    asyncio.run(go())


def ping_line(region: str, cable: str, t: float, sent: int, received: int,
              median: float | None, jitter: float | None = None) -> str:  # fmt: skip
    """One ICMP round's ``ping`` point, as an agent writes it (the fields the evaluator reads)."""
    tags = {"region": region, "cable": cable, "protocol": "icmp", "host": f"{region}-probe"}
    fields = {"packets_transmitted": sent, "packets_received": received,
              "median_response_ms": median, "jitter_ms": jitter,
              "status": "ok" if received else "loss"}  # fmt: skip
    return line("ping", tags, fields, int(t * 1e9))


def influx_counts(url: str, database: str) -> dict[str, int]:
    """Rounds stored per series, keyed like the spool's ``protocol|region|cable|target``."""
    q = ('SELECT count("result_code") FROM "ping","tcp","http","dns","ttft","trace" '
         'WHERE time > now() - 1h GROUP BY "protocol","region","cable","target"')  # fmt: skip
    data = httpx.post(f"{url}/query", data={"db": database, "q": q}, timeout=30).json()
    counts: dict[str, int] = {}
    for series in data["results"][0].get("series", []):
        t = series["tags"]
        cable = t["cable"] or "service"  # the service path's points carry no cable
        key = "|".join((t["protocol"], t["region"], cable, t["target"]))
        counts[key] = counts.get(key, 0) + int(series["values"][0][1])
    return counts


def spool_report(path: Path) -> dict[str, Any]:
    """`cablewatch spool report PATH --json`: the agent's own count of rounds, points pending."""
    out = subprocess.run(cablewatch_cmd("spool", "report", str(path), "--json"),
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    report: dict[str, Any] = json.loads(out)
    return report


def judged_against_stored(record: Path, url: str, database: str) -> tuple[int, list[str]]:
    """Every round an evaluator's detection took (its ``record_inputs`` file) against the round
    InfluxDB holds for that path and start time, now that every write has landed: how many were
    compared, and each that differs (judged with other counts than stored, or not stored)."""
    from cablewatch.evaluator.record import read_record

    judged = read_record(record)
    if not judged:
        return 0, []
    since_ns = int(min(r.time_s for _t, r in judged) * 1e9) - 1000
    q = ('SELECT "packets_transmitted", "packets_received" FROM "ping" '
         f"WHERE time >= {since_ns} AND \"protocol\" = 'icmp' "
         'GROUP BY "region", "cable"')  # fmt: skip
    data = httpx.post(f"{url}/query", params={"epoch": "ns"}, data={"db": database, "q": q},
                      timeout=60).json()  # fmt: skip
    stored = {
        (s["tags"]["region"], s["tags"]["cable"], round(t / 1000)): (sent, received)
        for s in data["results"][0].get("series", [])
        for t, sent, received in s["values"]
    }
    wrong = []
    for read_s, r in judged:
        us = round(r.time_s * 1e6)  # float seconds keep the time to a quarter of a microsecond
        held = next((v for k in (us, us - 1, us + 1) if (v := stored.get((r.region, r.cable, k)))),
                    None)  # fmt: skip
        if held != (r.sent, r.received):
            wrong.append(f"{r.region}/{r.cable} round at {r.time_s:.6f} read at {read_s:.3f}: "
                         f"judged {r.sent} sent, {r.received} received; stored {held}")  # fmt: skip
    return len(judged), wrong
