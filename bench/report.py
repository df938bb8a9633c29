"""What the 1-minute rollups buy a monthly report.

A real influxd (temp dir, loopback) gets --days of synthetic ICMP rounds for the default
topology's 27 paths (9 regions x 3 cables) at one round per --round-s (5 packets a round: one
``ping`` point and 5 ``ping_rtt`` points, as the agents write them; ADC loses every packet for
20 minutes a day). Then:

1. raw_scan_s: the report's minutes from the raw points, as a report would have to read them
   without rollups: the same minutes the rollups hold (packets, median, p95 and the RTT sketch
   that makes period percentiles exact), for the customer's regions, one day per query
   (collectors/read/minutes.minutes, which the evaluator rolls up with). Beside it,
   influx_agg_s: influxd's own per-minute aggregates of the same points (sums, median,
   percentile; no sketch, so no exact period percentile), a cheaper lower bound. The rollups
   themselves (measurement ``minute``) are made as the rounds are generated, as the evaluator
   makes them minute by minute.
2. report_s: sea-retail's report over the period, end to end: rollups read, figures computed,
   charts drawn, the PDF printed (reports/produce.py).
3. p95 exactness, per region and cable of the report: its p95 (the minutes' sketches merged)
   against the exact p95 over every raw reply of the period (influxd's percentile), and the old
   estimate (the 95th percentile of the minutes' own p95s) against the same.

Needs influxd (scripts/setup.sh installs it). The last line holds the headline figures:

    report_s=X raw_scan_s=Y ratio=R influx_agg_s=A p95_max_error_ms=E old_p95_max_error_ms=O
    (ratio = report_s / raw_scan_s; goals: ratio <= 0.2, E <= 0.1)
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from cablewatch.collectors.influx import ROLLUP, InfluxQL
from cablewatch.collectors.read.minutes import median as median_of
from cablewatch.collectors.read.minutes import minutes as raw_minutes
from cablewatch.collectors.read.minutes import nearest_rank, rollups
from cablewatch.collectors.read.rows import only
from cablewatch.config import load
from cablewatch.evaluator.points import minute_line, rollup_line
from cablewatch.harness.stack import agent_config, influxd, init_db
from cablewatch.reports.period import span
from cablewatch.reports.produce import produce
from cablewatch.sla.evaluate import Minute
from cablewatch.sla.sketch import RttSketch
from cablewatch.timefmt import utc_iso

PathSpec = tuple[str, str, float]


def day_lines(paths: list[PathSpec], day_start: int, round_s: int) -> tuple[list[str], list[str]]:
    """One day of every path's rounds as line protocol, and its minutes' rollups (with their
    RTT sketches, as the evaluator writes them)."""
    rng = random.Random(day_start)
    out, rollups = [], []
    for region, cable, floor in paths:
        tags = (f"cable={cable},host={region}-probe,landing_station=shantou,protocol=icmp,"
                f"region={region},target={cable}.shantou")  # fmt: skip
        minute: list[float] = []
        sent = received = 0
        for t in range(day_start, day_start + 86400, round_s):
            ts = t * 10**9
            cut = cable == "ADC" and (t - day_start) < 1200  # 20 minutes a day
            if cut:
                out.append(f"ping,{tags} packets_transmitted=5i,packets_received=0i,"
                           f"percent_packet_loss=100 {ts}")  # fmt: skip
                sent += 5
            else:
                rtts = [round(floor + rng.expovariate(1.0), 3) for _ in range(5)]
                median = sorted(rtts)[2]
                out.append(f"ping,{tags} packets_transmitted=5i,packets_received=5i,"
                           f"percent_packet_loss=0,median_response_ms={median:.3f},"
                           f"jitter_ms={abs(rtts[1] - rtts[0]):.3f} {ts}")  # fmt: skip
                out += [f"ping_rtt,{tags} rtt_ms={r:.3f},seq={i}i {ts + i}"
                        for i, r in enumerate(rtts)]  # fmt: skip
                minute += rtts
                sent += 5
                received += 5
            if (t + round_s) % 60 == 0:  # the minute is complete
                start = (t // 60) * 60
                ordered = sorted(minute)
                rollups.append(minute_line(region, cable, Minute(
                    start, sent, received, median_of(ordered), nearest_rank(ordered, 0.95),
                    None, None, RttSketch.of(ordered) if ordered else None)))  # fmt: skip
                minute, sent, received = [], 0, 0
    return out, rollups


async def influx_aggregates(ql: InfluxQL, start: int, end: int, regions: list[str]) -> int:
    """The period's minutes as influxd aggregates them from the raw points, a day per query;
    returns how many minutes came back."""
    n = 0
    by = 'GROUP BY time(1m), "region", "cable" fill(none)'
    for day in range(start, end, 86400):
        where = f"WHERE time >= {day * 10**9} AND time < {(day + 86400) * 10**9}{only(regions)}"
        for q in (f'SELECT sum("packets_transmitted"), sum("packets_received") FROM "ping" '
                  f"{where} {by}",
                  f'SELECT median("rtt_ms"), percentile("rtt_ms", 95) FROM "ping_rtt" '
                  f"{where} {by}"):  # fmt: skip
            n += sum(len(s.get("values", [])) for s in await ql.query(q))
    return n // 2


async def raw_scan(ql: InfluxQL, start: int, end: int, regions: list[str]) -> int:
    """The period's minutes, sketches included, from the raw points, a day per query; returns
    how many came back."""
    n = 0
    for day in range(start, end, 86400):
        found = await raw_minutes(ql, day * 10**9, (day + 86400) * 10**9, regions)
        n += sum(len(m) for m in found.values())
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="length of the period")
    parser.add_argument("--round-s", type=int, default=10, help="one round per path every ...")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-bench-report-"))
    with influxd(tmp / "influx") as ifx:
        config_path = agent_config(tmp / "cw.toml", ifx.url, icmp_only=True)
        config = load(config_path)
        init_db(ifx.url)
        paths = [(r.id, c, p.floor_rtt_ms) for r in config.topology.regions
                 for c, p in r.paths.items()]  # fmt: skip
        end = int(time.time() // 86400 * 86400)
        start = end - args.days * 86400
        rounds = len(paths) * args.days * 86400 // args.round_s
        print(f"writing {args.days} days of {len(paths)} paths at one round per {args.round_s} s: "
              f"{rounds:,} rounds, {rounds * 6:,} points ...", flush=True)  # fmt: skip
        t0 = time.monotonic()
        client = httpx.Client(timeout=600)

        def write(day: int) -> None:
            lines, rollups = day_lines(paths, day, args.round_s)
            for i in range(0, len(lines), 100_000):  # influxd takes at most 25 MB a request
                body = "\n".join(lines[i : i + 100_000])
                client.post(f"{ifx.url}/write", params={"db": "cw"},
                            content=body).raise_for_status()  # fmt: skip
            client.post(f"{ifx.url}/write", params={"db": "cw", "rp": ROLLUP},
                        content="\n".join(rollups)).raise_for_status()  # fmt: skip

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            for n, _ in enumerate(pool.map(write, range(start, end, 86400)), 1):
                if n % 5 == 0 or n == args.days:
                    print(f"  {n}/{args.days} days written ({time.monotonic() - t0:.0f} s)",
                          flush=True)  # fmt: skip
        write_s = time.monotonic() - t0

        client.post(f"{ifx.url}/write", params={"db": "cw", "rp": ROLLUP},
                    content=rollup_line(start * 10**9, end * 10**9, time.time())
                    ).raise_for_status()  # fmt: skip

        async def run() -> tuple[float, float, float, Any]:
            ql = InfluxQL(config.influx("the benchmark"), timeout_s=600)
            try:
                regions = list(config.sla("sea-retail").regions)
                t = time.monotonic()
                await raw_scan(ql, start, end, regions)
                raw_s = time.monotonic() - t
                t = time.monotonic()
                await influx_aggregates(ql, start, end, regions)
                agg_s = time.monotonic() - t
                period = span(utc_iso(start), utc_iso(end), "UTC")
                t = time.monotonic()
                report, body = await produce(config, "sea-retail", period, "pdf", ql=ql,
                                             now_s=end + 3600)  # fmt: skip
                report_s = time.monotonic() - t
                (tmp / "report.pdf").write_bytes(body)
                return raw_s, agg_s, report_s, report
            finally:
                await ql.close()

        raw_s, agg_s, report_s, report = asyncio.run(run())
        # the exact p95 of every reply, a path at a time: 30 days of one path are 1.3 million
        # replies, and all 27 at once outlast any sane query timeout
        exact = {}
        for region, cable in sorted({(g.region, c.cable) for g in report.regions
                                     for c in g.cables}):  # fmt: skip
            answer = client.post(f"{ifx.url}/query", data={"db": "cw", "q": (
                f'SELECT percentile("rtt_ms", 95) FROM "ping_rtt" WHERE time >= '
                f"{start * 10**9} AND time < {end * 10**9} AND \"region\" = '{region}' "
                f"AND \"cable\" = '{cable}'")})  # fmt: skip
            answer.raise_for_status()
            exact[(region, cable)] = answer.json()["results"][0]["series"][0]["values"][0][1]
        client.close()
        rolled, raw = report.rollup_minutes, report.raw_minutes
        minutes = asyncio.run(_minutes(config, start, end, [g.region for g in report.regions]))
    errors, old_errors = {}, {}
    for g in report.regions:
        for c in g.cables:
            key = (g.region, c.cable)
            p95s = sorted(m.rtt_p95_ms for m in minutes[key].values() if m.rtt_p95_ms)
            old = nearest_rank(p95s, 0.95)
            assert c.rtt_p95_ms is not None, key
            assert old is not None, key
            errors[key] = abs(c.rtt_p95_ms - exact[key])
            old_errors[key] = abs(old - exact[key])
    for key in sorted(errors):
        print(
            f"  {key[0]:18} {key[1]:7} exact p95 {exact[key]:8.3f} ms; report "
            f"{errors[key]:6.3f} ms off; p95 of minute p95s {old_errors[key]:6.3f} ms off"
        )
    print(f"written in {write_s:.0f} s; report read {rolled:,} minutes from the rollups and "
          f"{raw:,} from raw points; PDF: {tmp / 'report.pdf'}")  # fmt: skip
    print(f"{'':28}{'seconds':>10}")
    print(f"{'raw scan (minutes from raw)':28}{raw_s:10.2f}")
    print(f"{'influxd aggregates':28}{agg_s:10.2f}")
    print(f"{'report (rollups, PDF)':28}{report_s:10.2f}")
    print(
        f"report_s={report_s:.2f} raw_scan_s={raw_s:.2f} ratio={report_s / raw_s:.3f} "
        f"influx_agg_s={agg_s:.2f} "
        f"p95_max_error_ms={max(errors.values()):.3f} "
        f"old_p95_max_error_ms={max(old_errors.values()):.3f}"
    )


async def _minutes(config: Any, start: int, end: int, regions: list[str]) -> Any:
    """The rollups as the report read them (for the old estimate's error), in one query."""
    ql = InfluxQL(config.influx("the benchmark"), timeout_s=600)
    try:
        return await rollups(ql, start * 10**9, end * 10**9, regions)
    finally:
        await ql.close()


if __name__ == "__main__":
    main()
