"""Do Prometheus' quantiles tell the truth? Per lab path, Prometheus' p50 and p95 against
InfluxDB's exact figures over the same replies.

A lab of its own (9 regions x 3 cables); an agent per region (ICMP, 5 packets every second)
writes every reply to a real influxd and is scraped by a real Prometheus every second. After
--seconds, for each of the 27 paths and the same window:

- InfluxDB: ``percentile("rtt_ms", 50|95)`` over every reply (exact);
- Prometheus: the floor plus ``histogram_quantile(q, increase(cablewatch_rtt_excess_seconds
  _bucket[window]))`` (the floor-relative histogram), and, for comparison, the same over the
  absolute, quarter-octave ``cablewatch_rtt_seconds``.

With --jitter-ms, every cable gets that much half-normal jitter each way (the noisy case).
Needs root. The last line holds the headline figures (the floor-relative histogram):

    p50_max_error_ms=X p95_max_error_ms=Y series_per_agent=N
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from cablewatch.collectors.exporter import rtt_quantile_promql
from cablewatch.config import load_default
from cablewatch.harness.stack import CABLEWATCH, agent_config, agents, influxd, prometheus
from cablewatch.lab import manager

ABSOLUTE = ("histogram_quantile({q}, sum by (le, region, cable) "
            "(increase(cablewatch_rtt_seconds_bucket[{w}s])))")  # fmt: skip


def prom(url: str, expr: str, at: float) -> dict[tuple[str, str], float]:
    data = httpx.get(f"{url}/api/v1/query", params={"query": expr, "time": at}, timeout=30).json()
    if data["status"] != "success":
        raise SystemExit(f"{expr}: {data}")
    return {(r["metric"]["region"], r["metric"]["cable"]): 1000 * float(r["value"][1])
            for r in data["data"]["result"]}  # fmt: skip


def influx(url: str, q: int, start: float, end: float) -> dict[tuple[str, str], float]:
    query = (f'SELECT percentile("rtt_ms", {q}) FROM "ping_rtt" WHERE time > {int(start * 1e9)} '
             f'AND time <= {int(end * 1e9)} GROUP BY "region", "cable"')  # fmt: skip
    data = httpx.post(f"{url}/query", data={"db": "cw", "q": query}, timeout=60).json()
    return {(s["tags"]["region"], s["tags"]["cable"]): s["values"][0][1]
            for s in data["results"][0]["series"]}  # fmt: skip


def series_per_agent(url: str) -> int:
    """Sample lines an agent exposes for the RTT histograms and the floor."""
    text = httpx.get(url, timeout=10).text
    return sum(1 for ln in text.splitlines()
               if ln.startswith(("cablewatch_rtt_", "cablewatch_path_floor")))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-prom-"))
    opts = manager.LabOptions(state_dir=tmp / "lab", prefix="cwp", mgmt_subnet="198.18.247.0/24")
    state, _ = manager.up(load_default(), opts)
    try:
        host = state["mgmt_host_addr"].split("/")[0]
        targets = [f"{a}:9516" for a in state["mgmt_region_addr"].values()]
        with influxd(tmp / "influx", host=host) as ifx, prometheus(tmp / "prom", targets) as pr:
            config = agent_config(tmp / "cw.toml", ifx.url, icmp_only=True)
            subprocess.run([*CABLEWATCH, "db", "init", "--config", str(config)], check=True,
                           capture_output=True)  # fmt: skip
            if args.jitter_ms:
                for cable in ("ADC", "SJC", "APCN-2"):
                    manager.set_links(opts, cable, None, {"jitter_ms": args.jitter_ms})
            with agents(state, config, tmp):
                time.sleep(5)  # agents up, first scrape done: the window starts after
                start = time.time()
                print(f"probing for {args.seconds:.0f} s ...", flush=True)
                time.sleep(args.seconds)  # the measurement window itself: a duration, no event
                end = time.time()
                time.sleep(3)  # the last scrape and the last spooled points land
                some = next(iter(state["mgmt_region_addr"].values()))
                series = series_per_agent(f"http://{some}:9516/metrics")
                w = int(end - start)
                rows: dict[int, dict[tuple[str, str], tuple[float, float | None, float | None]]]
                rows = {}
                for q in (50, 95):
                    exact = influx(ifx.url, q, end - w, end)
                    fine = prom(pr.url, rtt_quantile_promql(q / 100, f"{w}s"), end)
                    coarse = prom(pr.url, ABSOLUTE.format(q=q / 100, w=w), end)
                    rows[q] = {k: (exact[k], fine.get(k), coarse.get(k)) for k in exact}
    finally:
        manager.down(opts)
    worst: dict[tuple[int, str], float] = {}
    print(f"{'path':24} {'p50 exact':>10} {'floor-rel':>10} {'absolute':>10} "
          f"{'p95 exact':>10} {'floor-rel':>10} {'absolute':>10}")  # fmt: skip
    for key in sorted(rows[50]):
        cells = []
        for q in (50, 95):
            truth, fine_q, coarse_q = rows[q][key]
            cells += [f"{truth:10.2f}", f"{fine_q or float('nan'):10.2f}",
                      f"{coarse_q or float('nan'):10.2f}"]  # fmt: skip
            for name, value in (("fine", fine_q), ("coarse", coarse_q)):
                err = abs(value - truth) if value is not None else float("inf")
                worst[(q, name)] = max(worst.get((q, name), 0.0), err)
        print(f"{key[0] + '/' + key[1]:24} " + " ".join(cells))
    print(f"{len(rows[50])} paths over {w} s; largest error, floor-relative buckets: p50 "
          f"{worst[(50, 'fine')]:.2f} ms, p95 {worst[(95, 'fine')]:.2f} ms; quarter-octave "
          f"buckets: p50 {worst[(50, 'coarse')]:.2f} ms, p95 {worst[(95, 'coarse')]:.2f} ms; "
          f"{series} histogram and floor series per agent (3 paths)")  # fmt: skip
    print(f"p50_max_error_ms={worst[(50, 'fine')]:.2f} p95_max_error_ms={worst[(95, 'fine')]:.2f} "
          f"series_per_agent={series}")  # fmt: skip


if __name__ == "__main__":
    main()
