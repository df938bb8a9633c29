"""Every number survives an InfluxDB outage: late points reach the rollups, in a lab of its own.

Agents in the 9 regions probe the 3 cables (ICMP, 5 packets every 1 s; each agent spools on
its host), `cablewatch evaluate` rolls the minutes up every 10 s. After --before-s of normal
operation InfluxDB is stopped for --outage-s (default 20 minutes: the agents spool), then
started again. Once every spool has drained and the evaluator has rolled up past it, over the
span from a minute before the outage to the last whole minute:

- mismatched_minutes: (path, minute) pairs where the rollups differ from a scan of the raw
  points (packets sent and received, median and p95, the RTT sketch), or one of them lacks it;
- nodata_minutes: no-data minutes in sea-retail's report over the span (every cable and the
  region's best), and in `sla status`' counts against the same counts made from the raw scan;
- lost_rounds: rounds the agents' spools counted as made that InfluxDB does not hold.

Needs root. The last line holds the headline figures:

    outage_s=1200 nodata_minutes=0 mismatched_minutes=0 lost_rounds=0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from cablewatch.collectors.influx import InfluxQL
from cablewatch.collectors.read.minutes import minutes, rolled_up, rollups
from cablewatch.config import load, load_default
from cablewatch.evaluator import process as evaluator_mod
from cablewatch.harness.stack import CABLEWATCH, agent_config, agents, evaluator, free_port, influxd
from cablewatch.lab import manager
from cablewatch.reports.period import span
from cablewatch.reports.produce import produce
from cablewatch.sla.evaluate import Minute, evaluate_path
from cablewatch.timefmt import utc_iso


def spool_pending(spool: Path) -> tuple[int, dict[str, int]]:
    """`cablewatch spool report`: points still pending, and rounds made per series."""
    out = subprocess.run([*CABLEWATCH, "spool", "report", str(spool), "--json"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    report: dict[str, Any] = json.loads(out)
    return int(report["points_pending"]), dict(report["rounds"])


async def stored_rounds(ql: InfluxQL, since_ns: int) -> dict[str, int]:
    """Rounds InfluxDB holds per series, keyed like the spool's ``protocol|region|cable|target``."""
    q = (f'SELECT count("packets_transmitted") FROM "ping" WHERE time >= {since_ns} '
         'GROUP BY "protocol", "region", "cable", "target"')  # fmt: skip
    out: dict[str, int] = {}
    for s in await ql.query(q):
        t = s["tags"]
        out["|".join((t["protocol"], t["region"], t["cable"], t["target"]))] = int(
            s["values"][0][1]
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage-s", type=float, default=1200.0)
    parser.add_argument("--before-s", type=float, default=90.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-backfill-"))
    opts = manager.LabOptions(state_dir=tmp / "lab", prefix="cwk", mgmt_subnet="198.18.247.0/24")
    state, _ = manager.up(load_default(), opts)
    try:
        host = state["mgmt_host_addr"].split("/")[0]
        with influxd(tmp / "influx", host=host) as influx:
            path = agent_config(tmp / "cw.toml", influx.url, icmp_only=True)
            path.write_text(path.read_text().replace("sla_interval_s = 60.0",
                                                     "sla_interval_s = 10.0"))  # fmt: skip
            subprocess.run([*CABLEWATCH, "db", "init", "--config", str(path)], check=True,
                           capture_output=True)  # fmt: skip
            config = load(path)
            begin_s = time.time()
            with evaluator(path, tmp / "evaluate.log", f"127.0.0.1:{free_port()}"):
                with agents(state, path, tmp, listen_port=None):
                    print(f"probing for {args.before_s:.0f} s ...", flush=True)
                    time.sleep(args.before_s)
                    influx.stop()
                    outage_start = time.time()
                    print(f"InfluxDB stopped for {args.outage_s:.0f} s (agents spool) ...",
                          flush=True)  # fmt: skip
                    time.sleep(args.outage_s)
                    influx.start()
                    outage_end = time.time()
                    print("InfluxDB back; waiting for every spool to drain ...", flush=True)
                    spools = [tmp / f"{r}.db" for r in state["region_ns"]]
                    deadline = time.monotonic() + 600
                    # drained: what is left is the last second's rounds, waiting for a flush
                    while any(spool_pending(s)[0] > 100 for s in spools):
                        if time.monotonic() > deadline:
                            raise SystemExit("the spools did not drain in 10 minutes")
                        time.sleep(2)
                    drained = time.time()
                    print(f"  drained {drained - outage_end:.0f} s after InfluxDB came back",
                          flush=True)  # fmt: skip
                    # probe on into the next minute, so the minute the outage ended in is whole
                    time.sleep(max(5.0, (int(drained // 60) + 1) * 60 + 5 - time.time()))
                made: dict[str, int] = {}
                for s in spools:
                    made |= spool_pending(s)[1]
                last = int(time.time() // 60) * 60  # the minute probing ended in: left out
                first = int(begin_s // 60) * 60 + 60  # the first whole minute of probing
                result = asyncio.run(_compare(config, first, last, begin_s, made))
    finally:
        manager.down(opts)
    mismatched, nodata, lost, shown = result
    for line in shown:
        print(line)
    print(
        f"outage_s={outage_end - outage_start:.0f} nodata_minutes={nodata} "
        f"mismatched_minutes={mismatched} lost_rounds={lost}"
    )


def _figures(m: Minute | None) -> tuple[Any, ...]:
    if m is None:
        return (None,) * 5
    return (m.sent, m.received, m.median_rtt_ms, m.rtt_p95_ms, m.rtt_sketch)


async def _compare(config: Any, first: int, last: int, begin_s: float,
                   made: dict[str, int]) -> tuple[int, int, int, list[str]]:  # fmt: skip
    ql = InfluxQL(config.influx("the benchmark"))
    try:
        deadline = time.monotonic() + 120
        while (got := await rolled_up(ql)) is None or got[1] < last * 10**9:
            if time.monotonic() > deadline:
                raise SystemExit("the evaluator did not roll up past the run in 2 minutes")
            await asyncio.sleep(1)
        rolled = await rollups(ql, first * 10**9, last * 10**9)
        raw = await minutes(ql, first * 10**9, last * 10**9)
        stored = await stored_rounds(ql, int(begin_s * 1e9) - 10**9)
        policy = config.sla("sea-retail")
        report, _ = await produce(
            config, policy.customer, span(utc_iso(first), utc_iso(last), "UTC"), "json", ql=ql
        )
        for _ in range(3):  # sla status and the raw scan's own counts within one minute
            now = time.time()
            statuses = await evaluator_mod.sla_status(config)
            everything = await minutes(ql, int(now - 30 * 86400) * 10**9, int(now) * 10**9)
            if time.time() // 60 == now // 60:
                break
    finally:
        await ql.close()
    mismatched = 0
    shown: list[str] = []
    for key in sorted(set(raw) | set(rolled)):
        for start in sorted(set(raw.get(key, {})) | set(rolled.get(key, {}))):
            r, m = rolled.get(key, {}).get(start), raw.get(key, {}).get(start)
            if _figures(r) != _figures(m) or r is None:
                mismatched += 1
                if len(shown) < 5:
                    shown.append(f"  rollup differs: {key} {utc_iso(start)}: rolled "
                                 f"{_figures(r)[:3]}, raw {_figures(m)[:3]}")  # fmt: skip
    nodata = sum(g.best.nodata_minutes + sum(c.nodata_minutes for c in g.cables)
                 for g in report.regions)  # fmt: skip
    for s in statuses:  # sla status, path by path, against the raw scan's own counts
        if s.customer != policy.customer or s.cable == "any":
            continue
        own = evaluate_path(policy, s.region, s.cable, everything.get((s.region, s.cable), {}),
                            now, None, maintenance=config.maintenance)  # fmt: skip
        if (own.good_minutes, own.bad_minutes) != (s.good_minutes, s.bad_minutes):
            mismatched += 1
            shown.append(
                f"  sla status differs: {s.region}/{s.cable}: good/bad "
                f"{s.good_minutes}/{s.bad_minutes}, raw {own.good_minutes}/"
                f"{own.bad_minutes}"
            )
    lost = sum(max(0, n - stored.get(series, 0)) for series, n in made.items())
    shown += [f"span {utc_iso(first)} .. {utc_iso(last)}: {len(raw)} paths, "
             f"{sum(len(v) for v in raw.values())} path-minutes scanned from raw points",
             f"report {report.label}: {report.rollup_minutes} minutes from the rollups, "
             f"{report.raw_minutes} from raw points"]  # fmt: skip
    return mismatched, nodata, lost, shown


if __name__ == "__main__":
    main()
