"""The demo's pipeline stage, on the lab the demo brought up (CABLEWATCH_LAB_DIR).

Starts InfluxDB, Prometheus and Alertmanager (Debian's packages), runs `cablewatch db init`,
starts one agent per region inside its namespace (1 s interval) and `cablewatch evaluate`,
lets them measure, cuts ADC and shows the one alert Alertmanager gets (and how long it took),
restores ADC and shows the alert resolve; then what reached the system of record: rounds per
path, median RTT beside the floor, loss while ADC was cut (InfluxQL), Prometheus'
histogram_quantile medians, the stored fault event, and `cablewatch sla status`. Stops every
process it started.
"""

from __future__ import annotations

import asyncio
import json
import os
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

from cablewatch.collectors.exporter import rtt_quantile_promql
from cablewatch.collectors.influx import InfluxQL
from cablewatch.collectors.settings import InfluxSink
from cablewatch.harness.stack import (
    active_alerts,
    agent_config,
    agent_targets,
    agents,
    alertmanager,
    evaluator,
    free_port,
    influxd,
    prometheus,
    watch_alerts,
)
from cablewatch.lab import manager

out = Console(width=200)
CW = [sys.executable, "-m", "cablewatch"]
ROOT = Path(__file__).resolve().parents[1]


def say(text: str) -> None:
    out.print(f"[bold]{text}[/bold]")


def main() -> None:
    opts = manager.LabOptions(state_dir=Path(os.environ["CABLEWATCH_LAB_DIR"]))
    state = manager.load_state(opts)
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-demo-"))
    host = state["mgmt_host_addr"].split("/")[0]
    with influxd(tmp / "influx", host=host) as influx, alertmanager(tmp / "am") as am:
        config = agent_config(tmp / "agents.toml", influx.url, alertmanager_url=am.url)
        say(f"InfluxDB 1.x at {influx.url} (Debian's influxd); cablewatch db init:")
        init = subprocess.run([*CW, "db", "init", "--config", str(config)], check=True,
                              capture_output=True, text=True)  # fmt: skip
        out.print(init.stdout.rstrip())
        labelled = agent_targets(state)
        evaluator_listen = f"127.0.0.1:{free_port()}"
        with prometheus(tmp / "prom", [*labelled, evaluator_listen], labelled) as prom:
            say(
                f"Prometheus at {prom.url}, scraping 9 agents over the management network; "
                f"Alertmanager at {am.url}; cablewatch evaluate reads InfluxDB every 1 s"
            )
            log = tmp / "evaluate.log"
            with agents(state, config, tmp), evaluator(config, log, evaluator_listen):
                t0 = time.time_ns()
                say(
                    "9 agents probing every cable (icmp, tcp, http, dns, ttft at 1 s; traces every "
                    "60 s) ... 20 s"
                )
                time.sleep(20)
                say(f"Alertmanager's active alerts before the cut: {len(active_alerts(am.url))}")
                cut_start = time.time_ns()
                manager.set_links(opts, "ADC", None, {"cut": True})
                took, alerts = wait_alerts(am.url, lambda a: bool(a))
                say(f"ADC cut: {len(alerts)} alert in Alertmanager after {took:.1f} s:")
                show_alerts(alerts)
                time.sleep(max(0.0, 8 - took))
                previews = ROOT / "out" / "previews"
                say(
                    f"The Grafana dashboards during the cut, drawn from their own queries: "
                    f"$ cablewatch dashboards preview --out {previews.relative_to(ROOT)}"
                )
                cmd = [*CW, "dashboards", "preview", "--config", str(config), "--prometheus",
                       prom.url, "--out", str(previews), "--minutes", "2"]  # fmt: skip
                drawn = subprocess.run(cmd, capture_output=True, text=True, check=False)
                out.print(drawn.stdout.rstrip() or drawn.stderr, markup=False, highlight=False)
                time.sleep(max(0.0, 15 - (time.time_ns() - cut_start) / 1e9))
                manager.restore(opts, "ADC")
                cut_end = time.time_ns()
                took, _ = wait_alerts(am.url, lambda a: not a)
                say(f"ADC restored: the alert resolved after {took:.1f} s; active alerts: 0")
                # the minute of the cut must be complete for the SLA's bad minutes
                done = (cut_end // 10**9 // 60 + 1) * 60 + 3
                say(f"... {max(0, done - time.time()):.0f} s until the cut's minute is complete")
                time.sleep(max(0.0, done - time.time()))
                medians = prom_medians(prom.url)
        rows = asyncio.run(influx_rows(influx.url, t0, cut_start, cut_end))
        show(state, rows, medians)
        show_events(influx.url)
        for args in (("north-asia-fintech", "--paths"), ("sea-retail",)):  # its TTFT objective
            say(f"$ cablewatch sla status --customer {' '.join(args)}")
            status = subprocess.run([*CW, "sla", "status", "--config", str(config), "--customer",
                                     *args], capture_output=True, text=True,
                                    env=os.environ | {"COLUMNS": "200"})  # fmt: skip
            out.print(status.stdout.rstrip() or status.stderr, markup=False, highlight=False)
        say("Evaluator log (raised / resolved):")
        for line in log.read_text().splitlines():
            if " raised " in line or " resolved " in line:
                out.print("  " + line, markup=False, highlight=False)


def wait_alerts(url: str, done: Any, timeout_s: float = 60) -> tuple[float, list[dict[str, Any]]]:
    t0 = time.monotonic()
    when, alerts = watch_alerts(url, done, timeout_s)[-1]
    return when - t0, alerts


def show_alerts(alerts: list[dict[str, Any]]) -> None:
    for a in alerts:
        labels = a["labels"]
        keys = ("alertname", "severity", "scope", "cable", "customers")
        out.print("  " + " ".join(f"{k}={labels.get(k, '')}" for k in keys), markup=False)
        out.print(f"  summary: {a['annotations']['summary']}", markup=False)


def show_events(url: str) -> None:
    q = ('SELECT "state", "paths", "duration_s", "raised_unix_s", "resolved_unix_s" FROM "event" '
         'GROUP BY "scope", "subject"')  # fmt: skip
    data = httpx.post(f"{url}/query", data={"db": "cw", "q": q, "epoch": "ms"}, timeout=10).json()
    table = Table(title="Fault events stored in InfluxDB (measurement event)",
                  title_justify="left", box=box.SIMPLE_HEAD)  # fmt: skip
    for name in ("scope", "subject", "state", "paths", "first bad round", "raised after s",
                 "resolved", "duration s"):  # fmt: skip
        table.add_column(name)
    for s in data["results"][0].get("series", []):
        for t, state, paths, duration, raised, resolved in s["values"]:
            table.add_row(
                s["tags"]["scope"], s["tags"]["subject"], state, str(paths),
                time.strftime("%H:%M:%S", time.gmtime(t / 1000)), f"{raised - t / 1000:.1f}",
                time.strftime("%H:%M:%S", time.gmtime(resolved)) if resolved else "-",
                f"{duration:.1f}" if duration is not None else "-",
            )  # fmt: skip
    out.print(table)


def prom_medians(url: str) -> dict[tuple[str, str], float]:
    q = rtt_quantile_promql(0.5, "2m")
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
