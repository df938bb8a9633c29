"""What the 1-minute rollups buy a monthly report.

A real influxd (temp dir, loopback) gets --days of synthetic ICMP rounds for the default
topology's 27 paths (9 regions x 3 cables) at one round per --round-s (5 packets a round: one
``ping`` point and 5 ``ping_rtt`` points, as the agents write them; ADC loses every packet for
20 minutes a day). Then:

1. raw_scan_s: the period's minutes read from the raw points, as the report would have to
   without rollups (collectors/read/minutes.read_minutes, one day per query). Those minutes are
   written back as the evaluator writes its rollups (measurement ``minute``).
2. report_s: sea-retail's report over the period, end to end: rollups read, figures computed,
   charts drawn, the PDF printed (reports/produce.py).

Needs influxd (scripts/setup.sh installs it). The last line holds the headline figures:

    report_s=X raw_scan_s=Y ratio=R      (ratio = report_s / raw_scan_s; goal <= 0.2)
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import random
import tempfile
import time
from pathlib import Path

import httpx

from cablewatch.collectors.influx import InfluxQL
from cablewatch.collectors.read.minutes import read_minutes
from cablewatch.config import load
from cablewatch.evaluator.points import minute_line, rollup_line
from cablewatch.harness.stack import agent_config, influxd
from cablewatch.reports.period import span
from cablewatch.reports.produce import produce
from cablewatch.timefmt import utc_iso


def day_lines(paths: list[tuple[str, str, float]], day_start: int, round_s: int) -> list[str]:
    """One day of every path's rounds as line protocol."""
    rng = random.Random(day_start)
    out = []
    for region, cable, floor in paths:
        tags = (f"cable={cable},host={region}-probe,landing_station=shantou,protocol=icmp,"
                f"region={region},target={cable}.shantou")  # fmt: skip
        for t in range(day_start, day_start + 86400, round_s):
            ts = t * 10**9
            cut = cable == "ADC" and (t - day_start) < 1200  # 20 minutes a day
            if cut:
                out.append(f"ping,{tags} packets_transmitted=5i,packets_received=0i,"
                           f"percent_packet_loss=100 {ts}")  # fmt: skip
                continue
            rtts = [floor + rng.expovariate(1.0) for _ in range(5)]
            median = sorted(rtts)[2]
            out.append(f"ping,{tags} packets_transmitted=5i,packets_received=5i,"
                       f"percent_packet_loss=0,median_response_ms={median:.3f},"
                       f"jitter_ms={abs(rtts[1] - rtts[0]):.3f} {ts}")  # fmt: skip
            out += [f"ping_rtt,{tags} rtt_ms={r:.3f},seq={i}i {ts + i}" for i, r in enumerate(rtts)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="length of the period")
    parser.add_argument("--round-s", type=int, default=10, help="one round per path every ...")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-bench-report-"))
    with influxd(tmp / "influx") as ifx:
        config_path = agent_config(tmp / "cw.toml", ifx.url, icmp_only=True)
        config = load(config_path)
        httpx.post(f"{ifx.url}/query", data={"q": 'CREATE DATABASE "cw"'}, timeout=30)
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
            lines = day_lines(paths, day, args.round_s)
            for i in range(0, len(lines), 100_000):  # influxd takes at most 25 MB a request
                body = "\n".join(lines[i : i + 100_000])
                client.post(f"{ifx.url}/write", params={"db": "cw"},
                            content=body).raise_for_status()  # fmt: skip

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            for n, _ in enumerate(pool.map(write, range(start, end, 86400)), 1):
                if n % 5 == 0 or n == args.days:
                    print(f"  {n}/{args.days} days written ({time.monotonic() - t0:.0f} s)",
                          flush=True)  # fmt: skip
        write_s = time.monotonic() - t0

        async def run() -> tuple[float, float, int, int]:
            ql = InfluxQL(config.influx("the benchmark"))
            try:
                t = time.monotonic()
                minutes, _ = await read_minutes(ql, start * 10**9, end * 10**9, rolled=None)
                raw_s = time.monotonic() - t
                lines = [minute_line(k[0], k[1], m) for k, ms in minutes.items()
                         for m in ms.values()]  # fmt: skip
                lines.append(rollup_line(start * 10**9, end * 10**9, time.time()))
                async with httpx.AsyncClient(timeout=600) as rollups:
                    for i in range(0, len(lines), 50_000):
                        chunk = "\n".join(lines[i : i + 50_000])
                        r = await rollups.post(
                            f"{ifx.url}/write", params={"db": "cw"}, content=chunk
                        )
                        r.raise_for_status()
                period = span(utc_iso(start), utc_iso(end), "UTC")
                t = time.monotonic()
                report, body = await produce(config, "sea-retail", period, "pdf", ql=ql,
                                             now_s=end + 3600)  # fmt: skip
                report_s = time.monotonic() - t
                (tmp / "report.pdf").write_bytes(body)
                return raw_s, report_s, report.rollup_minutes, report.raw_minutes
            finally:
                await ql.close()

        raw_s, report_s, rolled, raw = asyncio.run(run())
        client.close()
    print(f"written in {write_s:.0f} s; report read {rolled:,} minutes from the rollups and "
          f"{raw:,} from raw points; PDF: {tmp / 'report.pdf'}")  # fmt: skip
    print(f"{'':28}{'seconds':>10}")
    print(f"{'raw scan (minutes from raw)':28}{raw_s:10.2f}")
    print(f"{'report (rollups, PDF)':28}{report_s:10.2f}")
    print(f"report_s={report_s:.2f} raw_scan_s={raw_s:.2f} ratio={report_s / raw_s:.3f}")


if __name__ == "__main__":
    main()
