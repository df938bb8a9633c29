"""The demo's pipeline stage, on the lab the demo brought up (CABLEWATCH_LAB_DIR).

Starts InfluxDB and Prometheus (Debian's packages) on the lab's management bridge, runs
`cablewatch db init`, starts one agent per region inside its namespace (1 s interval), lets them
measure, cuts ADC, restores it, and then shows what reached the system of record: rounds per
path, median RTT beside the floor, loss while ADC was cut (InfluxQL), and Prometheus'
histogram_quantile medians. Stops every process it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich import box
from rich.console import Console
from rich.table import Table

from cablewatch.collectors.influx import InfluxQL
from cablewatch.lab import manager
from cablewatch.lab.stack import agent_config, influxd, prometheus
from cablewatch.topology.model import InfluxSink

out = Console(width=200)
CW = [sys.executable, "-m", "cablewatch"]


def say(text: str) -> None:
    out.print(f"[bold]{text}[/bold]")


def main() -> None:
    opts = manager.LabOptions(state_dir=Path(os.environ["CABLEWATCH_LAB_DIR"]))
    state = manager.load_state(opts)
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-demo-"))
    host = state["mgmt_host_addr"].split("/")[0]
    with influxd(tmp / "influx", host=host) as influx:
        config = agent_config(tmp / "agents.toml", influx.url)
        say(f"InfluxDB 1.x at {influx.url} (Debian's influxd); cablewatch db init:")
        init = subprocess.run([*CW, "db", "init", "--config", str(config)], check=True,
                              capture_output=True, text=True)  # fmt: skip
        out.print(init.stdout.rstrip())
        listen = {r: f"{state['mgmt_region_addr'][r]}:9516" for r in state["region_ns"]}
        with prometheus(tmp / "prom", list(listen.values())) as prom:
            say(f"Prometheus at {prom.url}, scraping 9 agents over the management network")
            agents = []
            for region, ns in state["region_ns"].items():
                cmd = ["ip", "netns", "exec", ns, *CW, "agent", "--config", str(config),
                       "--region", region, "--spool", str(tmp / f"{region}.db"),
                       "--host", f"{region}-probe", "--listen", listen[region]]  # fmt: skip
                with (tmp / f"{region}.log").open("wb") as log:
                    agents.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
            try:
                t0 = time.time_ns()
                say("9 agents probing every cable (icmp, tcp, http, dns at 1 s) ... 20 s")
                time.sleep(20)
                cut_start = time.time_ns()
                manager.set_links(opts, "ADC", None, {"cut": True})
                say("ADC cut ... 15 s")
                time.sleep(15)
                manager.restore(opts, "ADC")
                cut_end = time.time_ns()
                say("ADC restored ... 10 s")
                time.sleep(10)
                medians = prom_medians(prom.url)
            finally:
                for a in agents:
                    a.send_signal(signal.SIGTERM)
                for a in agents:
                    a.wait(30)
        rows = asyncio.run(influx_rows(influx.url, t0, cut_start, cut_end))
    show(state, rows, medians)


def prom_medians(url: str) -> dict[tuple[str, str], float]:
    q = ("histogram_quantile(0.5, sum by (le, region, cable) "
         "(rate(cablewatch_rtt_seconds_bucket[2m])))")  # fmt: skip
    data = httpx.get(f"{url}/api/v1/query", params={"query": q}, timeout=10).json()
    return {(r["metric"]["region"], r["metric"]["cable"]): float(r["value"][1]) * 1000
            for r in data["data"]["result"]}  # fmt: skip


async def influx_rows(
    url: str, t0: int, cut_start: int, cut_end: int
) -> dict[tuple[str, str], Any]:
    ql = InfluxQL(InfluxSink(url=url, mode="v1", database="cw"))
    by = 'GROUP BY "region","cable"'
    loss = 'SELECT 100 * (1 - sum("packets_received") / sum("packets_transmitted")) FROM "ping"'
    queries = {
        "rounds": f'SELECT count("result_code") FROM "ping" WHERE time >= {t0} {by}',
        "median": f'SELECT median("rtt_ms") FROM "ping_rtt" WHERE time >= {t0} {by}',
        "loss_cut": f"{loss} WHERE time >= {cut_start + 2 * 10**9} AND time < {cut_end} {by}",
        "loss_after": f"{loss} WHERE time >= {cut_end + 2 * 10**9} {by}",
    }  # fmt: skip
    rows: dict[tuple[str, str], Any] = {}
    try:
        for name, q in queries.items():
            for s in await ql.query(q):
                key = (s["tags"]["region"], s["tags"]["cable"])
                rows.setdefault(key, {})[name] = s["values"][0][1]
    finally:
        await ql.close()
    return rows


def show(state: dict[str, Any], rows: dict[tuple[str, str], Any],
         medians: dict[tuple[str, str], float]) -> None:  # fmt: skip
    table = Table(title="What reached InfluxDB (InfluxQL) and Prometheus", title_justify="left",
                  box=box.SIMPLE_HEAD)  # fmt: skip
    columns = ("region", "cable", "rounds", "floor ms", "median RTT ms (InfluxDB)",
               "p50 ms (Prometheus)", "loss % while ADC cut", "loss % after restore")  # fmt: skip
    for name in columns:
        table.add_column(name, justify="left" if name in ("region", "cable") else "right")
    for p in state["paths"]:
        key = (p["region"], p["cable"])
        r = rows.get(key, {})
        cells = [
            str(r.get("rounds", 0)),
            f"{p['floor_rtt_ms']:.2f}",
            f"{r['median']:.2f}" if r.get("median") is not None else "-",
            f"{medians[key]:.2f}" if key in medians else "-",
            f"{r['loss_cut']:.0f}" if r.get("loss_cut") is not None else "-",
            f"{r['loss_after']:.0f}" if r.get("loss_after") is not None else "-",
        ]
        table.add_row(p["region"], p["cable"], *cells)
    out.print(table)
    print(json.dumps({"paths": len(rows)}), file=sys.stderr)


if __name__ == "__main__":
    main()
