"""How the evaluator's cost grows with the number of paths it watches.

For N = 27, 2,700 and 27,000 paths (regions x 3 cables; 9, 900 and 9,000 synthetic regions),
a real influxd holds --warm-rounds rounds of every path (one ICMP round per path per second,
as agents at the default 1 s would write), then the evaluator (the same Evaluator that
`cablewatch serve` runs) warms up and makes --polls detection passes, a fresh round of every
path written before each. Each N runs in a process of its own, so its RSS is its own.

Reported per N: warm-up time, detection pass (median and max; read + judge + classify +
score + recommend; the read's median apart), and the process's RSS after the passes.
``paths_at_1s`` is how many paths one evaluator keeps up with at a 1 s poll, extrapolated
linearly from the largest N: N / poll_s (the table shows how linear the cost is).

With ``--source bus`` the rounds are also published on the bus (three clustered nats-server
processes, a 3-replica stream), a batch of 300 regions at a time as agents with 900 targets
would, and the evaluator takes them from it (evaluator/source_bus.py: pushed, parsed from line
protocol) instead of reading InfluxDB; a pass starts once the bus has pushed the second's
batches.

Needs influxd (and nats-server for the bus). The last line holds the headline figures:

    source=S paths=27000 poll_s=X read_s=R rss_mib=Y paths_at_1s=N
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
from procstat import status_mib

from cablewatch.bus.client import ensure_stream
from cablewatch.bus.settings import BusSettings
from cablewatch.collectors.influx import InfluxQL, InfluxV1Writer
from cablewatch.config import load
from cablewatch.correlation.detector import Round
from cablewatch.evaluator.service import Evaluator
from cablewatch.evaluator.source import Polled
from cablewatch.evaluator.source_bus import BusRounds
from cablewatch.harness.nats import nats_cluster
from cablewatch.harness.stack import influxd, init_db
from cablewatch.harness.synthetic import round_lines, write_config

BUS_BATCH_REGIONS = 300


def measure(config_path: str, regions: int, warm: int, polls: int, out: dict[str, float],
            urls: list[str] | None = None) -> None:  # fmt: skip
    """In a process of its own: fill the database (and the bus), warm up, poll; figures into
    ``out``."""
    config = load(config_path)
    sink = config.sinks.influxdb
    assert sink is not None

    async def go() -> None:
        writer = InfluxV1Writer(sink, secret=None)
        publish, nc, received = None, None, None
        if urls is not None:
            nc = await nats.connect(urls)
            bus = BusSettings(urls=tuple(urls), stream=f"S{regions}", subject=f"s{regions}")
            js = nc.jetstream()
            await ensure_stream(js, bus)
            last = [0]

            async def publish(lines: list[str]) -> None:
                step = 3 * BUS_BATCH_REGIONS
                for i in range(0, len(lines), step):
                    ack = await js.publish(f"s{regions}.shantou.b{i}",
                                           "\n".join(lines[i : i + step]).encode())  # fmt: skip
                    last[0] = ack.seq

            async def received(src: BusRounds) -> None:
                while src.received_seq < last[0]:  # noqa: ASYNC110 (a counter the callback moves)
                    await asyncio.sleep(0.001)

        now = time.time()
        for k in range(warm, 0, -1):
            lines = round_lines(regions, now - k)
            await writer.write(lines)
            if publish is not None:
                await publish(lines)
        base = status_mib("VmRSS")
        ql = InfluxQL(sink)
        ev = Evaluator(config, ql)
        if nc is not None:
            d = ev.detection
            ev.source = BusRounds(nc.jetstream(), bus, "shantou", d.detectors,
                                  lookback_s=d.stale_s,
                                  due_s=d.due_s(config.evaluator.poll_s))  # fmt: skip
        t0 = time.perf_counter()
        out["warm_rounds"] = await ev.warm_up()
        out["warm_s"] = time.perf_counter() - t0
        ev.tune_gc()  # as Evaluator.run does once warmed up
        source = ev.source
        reads: list[float] = []

        class Timed:  # the pass's read, timed apart from the rest
            def history(self, since_s: float, now_s: float) -> AsyncIterator[list[Round]]:
                return source.history(since_s, now_s)

            async def poll(self, now_s: float) -> Polled:
                t0 = time.perf_counter()
                try:
                    return await source.poll(now_s)
                finally:
                    reads.append(time.perf_counter() - t0)

        ev.source = Timed()
        passes = []
        for _ in range(polls):
            lines = round_lines(regions, time.time())
            await writer.write(lines)
            if publish is not None and received is not None:
                await publish(lines)
                await received(source)  # type: ignore[arg-type]
            t0 = time.perf_counter()
            await ev.detect()
            passes.append(time.perf_counter() - t0)
        out["poll_s"] = statistics.median(passes)
        out["read_s"] = statistics.median(reads)
        out["poll_max_s"] = max(passes)
        out["rss_mib"] = status_mib("VmRSS")
        out["rss_before_mib"] = base
        await ql.close()
        await writer.close()
        if nc is not None:
            await nc.close()

    asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm-rounds", type=int, default=30)
    parser.add_argument("--polls", type=int, default=15)
    parser.add_argument("--source", choices=("influxdb", "bus"), default="influxdb")
    parser.add_argument("--regions", type=int, nargs="+", default=[9, 900, 9000])
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-evalscale-"))
    ctx = multiprocessing.get_context("spawn")
    rows = []
    with contextlib.ExitStack() as running:
        server = running.enter_context(influxd(tmp / "influx"))
        urls = None
        if args.source == "bus":
            urls = running.enter_context(nats_cluster(tmp / "nats")).urls
        for regions in args.regions:
            db = f"scale{regions}"
            init_db(server.url, db)
            config = write_config(tmp / f"{db}.toml", server.url, db, regions, args.warm_rounds)
            with ctx.Manager() as manager:
                out = manager.dict()
                proc = ctx.Process(target=measure, args=(str(config), regions, args.warm_rounds,
                                                         args.polls, out, urls))  # fmt: skip
                proc.start()
                proc.join()
                got = dict(out)
            if proc.exitcode != 0 or "poll_s" not in got:
                raise SystemExit(f"{3 * regions} paths: the measuring process failed")
            paths = 3 * regions
            rows.append((paths, got))
            print(f"{paths:>6} paths: warm-up {got['warm_s']:.2f} s ({got['warm_rounds']:,.0f} "
                  f"rounds still in its window); detection pass median "
                  f"{got['poll_s'] * 1000:.0f} ms (its read {got['read_s'] * 1000:.0f} ms), max "
                  f"{got['poll_max_s'] * 1000:.0f} ms; RSS "
                  f"{got['rss_mib']:.0f} MiB ({got['rss_before_mib']:.0f} MiB before the "
                  "evaluator)", flush=True)  # fmt: skip
    paths, got = rows[-1]
    at_1s = int(paths / got["poll_s"])
    print(
        f"source={args.source} paths={paths} poll_s={got['poll_s']:.2f} read_s={got['read_s']:.2f} "
        f"rss_mib={got['rss_mib']:.0f} paths_at_1s={at_1s}"
    )


if __name__ == "__main__":
    main()
