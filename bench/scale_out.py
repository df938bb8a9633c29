"""The scale-out on the bus, one landing station: N paths published at 1 s (a batch a region a
second, as agents publish) through three clustered nats-server processes, E `cablewatch serve`
instances of the station (one holds its lease and writes; the others stand by, each judging
every path: a hot spare, not a share of the load, while a station is one partition), a
webhook receiver, influxd. A quarter of the way in, ADC is cut for a tenth of the regions
(restored at three quarters); halfway, the holder is SIGKILLed.

Reported, from each instance's record of every round its passes took ([evaluator]
record_inputs) and the receiver's deliveries:

- ``paths_at_1s_per_evaluator``: the paths each instance judged every second (N when the
  survivor's lag p99 stayed under 2 s; 0 when it fell behind);
- ``lag_p99_s``: from a round's end (its time + 1 s) to the pass that took it, p99 over the
  survivor's rounds (the evaluator's due time, 1 s here, included);
- ``takeover_s``: from the holder's SIGKILL to another's lease token (its metric);
- ``lost``: rounds published after the warm-up that the survivor never judged; ``duplicated``:
  rounds it took twice;
- ``duplicate_notifications``: webhook deliveries of a change (region, previous, cable, since)
  already delivered, plus versions delivered twice; the summary line also says how many
  changes were delivered without their point in InfluxDB, and how many points were never
  delivered (the holder's webhook queue dies with it).

Needs influxd and nats-server. The last line holds the headline figures:

    paths=N evaluators=E paths_at_1s_per_evaluator=X lag_p99_s=Y takeover_s=Z lost=0 \
        duplicated=0 duplicate_notifications=0   (one line)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.synchronize
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import httpx
import nats
import nats.errors

from cablewatch.bus.client import ensure_stream
from cablewatch.bus.settings import BusSettings
from cablewatch.evaluator.record import read_record
from cablewatch.harness.nats import nats_cluster
from cablewatch.harness.receiver import Received, webhook_receiver
from cablewatch.harness.stack import add_api, evaluator, free_ports, influxd, init_db, scrape
from cablewatch.harness.synthetic import CABLES, region_id, round_line, write_config

HISTORY_S = 15
"""Rounds published before the instances start: their baselines."""
CHUNK = 250
"""Publishes in flight at once."""


def publish(urls: list[str], regions: int, start_s: float, seconds: int, cut: tuple[int, int],
            cut_regions: int, ready: multiprocessing.synchronize.Event) -> None:  # fmt: skip
    """In a process of its own: the last HISTORY_S seconds of every region's rounds at once
    (then ``ready``), then a batch a region each second as it ends, until ``start_s`` +
    ``seconds``; ADC lost for regions below ``cut_regions`` during seconds ``cut`` of that
    (after ``start_s``). A failed publish is sent again with the same id, as an agent's sender
    does."""

    async def go() -> None:
        async def quiet(_exc: Exception) -> None:
            """The holder's death is not the publisher's."""

        nc = await nats.connect(urls, error_cb=quiet)
        js = nc.jetstream()
        await ensure_stream(js, BusSettings(urls=tuple(urls)))

        async def one(i: int, t: float) -> None:
            lost = cut[0] <= t - start_s < cut[1] and i < cut_regions
            body = "\n".join(round_line(i, k, t, received=0 if lost and k == 0 else 5)
                             for k in range(3))  # fmt: skip
            msg_id = {"Nats-Msg-Id": f"{region_id(i)}:{t:.0f}"}
            while True:
                try:
                    await js.publish(f"cablewatch.rounds.shantou.{region_id(i)}", body.encode(),
                                     timeout=5, headers=msg_id)  # fmt: skip
                    return
                except (nats.errors.Error, TimeoutError):
                    await asyncio.sleep(0.2)

        async def second(t: float) -> None:
            for j in range(0, regions, CHUNK):
                await asyncio.gather(*(one(i, t) for i in range(j, min(j + CHUNK, regions))))

        t = float(int(time.time()) - HISTORY_S)
        while t < start_s + seconds:
            if t + 1.0 > time.time():
                ready.set()  # the history is out
                await asyncio.sleep(t + 1.0 - time.time())  # the round has ended
            await second(t)
            t += 1.0
        await nc.close()

    asyncio.run(go())


def token(port: int) -> int:
    """An instance's lease token (0: standing by; -1: no answer)."""
    try:
        got = scrape(f"http://127.0.0.1:{port}/metrics", timeout_s=2.0)
    except httpx.HTTPError:
        return -1
    return int(got.get("cablewatch_evaluator_lease_token", 0))


def wait(condition: Callable[[], object], timeout_s: float, what: str,
         poll_s: float = 0.05) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"scale_out: timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(poll_s)


def standing_by(log: Path) -> bool:
    return "standing by" in log.read_text()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=3000, help="paths (3 cables a region)")
    ap.add_argument("--evaluators", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=60, help="the live run's length")
    ap.add_argument("--ttl", type=float, default=3.0, help="the lease's TTL (s)")
    ap.add_argument("--keep", type=Path, help="copy the instances' logs and records here")
    args = ap.parse_args()
    regions = args.paths // 3
    paths = 3 * regions
    with tempfile.TemporaryDirectory(prefix="cw-scale-out-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        received = Received()
        influx = stack.enter_context(influxd(tmp / "influx"))
        cluster = stack.enter_context(nats_cluster(tmp / "nats"))
        hook_port = stack.enter_context(webhook_receiver(received))
        init_db(influx.url, "scale")
        (tmp / "secret").write_text("a-webhook-secret-of-some-length\n")
        names = [f"e{k}" for k in range(args.evaluators)]
        ports = free_ports(2 * len(names))
        configs = []
        for k, name in enumerate(names):
            config = write_config(tmp / f"{name}.toml", influx.url, "scale", regions, 5)
            with config.open("a") as f:
                f.write(cluster.bus_section(lease_ttl_s=args.ttl)
                        + f'[evaluator]\nrecord_inputs = "{tmp / name}.jsonl"\n'
                        "[failover]\nwindow_rounds = 5\nmin_gain_ms = 1\nmin_gain_pct = 1\n"
                        "dwell_s = 1\nholddown_s = 1\n"
                        f'[[webhooks]]\nurl = "http://127.0.0.1:{hook_port}/hook"\n'
                        f'secret_file = "{tmp / "secret"}"\n')  # fmt: skip
            add_api(config, "127.0.0.1", ports[len(names) + k], tmp / "tokens", "bench-token")
            configs.append(config)
        start_s = float(int(time.time()) + 40)  # the measured window: after the start-up
        cut = (args.seconds // 4, 3 * args.seconds // 4)
        ready = multiprocessing.Event()
        pub = multiprocessing.Process(target=publish, args=(cluster.urls, regions, start_s,
                                      args.seconds, cut, max(1, regions // 10), ready))  # fmt: skip
        pub.start()
        wait(ready.is_set, 120, "the history published")
        procs: list[subprocess.Popen[bytes]] = []
        for k, name in enumerate(names):
            procs.append(stack.enter_context(evaluator(configs[k], tmp / f"{name}.log",
                         f"127.0.0.1:{ports[k]}", command="serve", instance=name)))  # fmt: skip
            if k == 0:
                wait(lambda: token(ports[0]) > 0, 60, "the first instance's lease")
        for name in names[1:]:
            log = tmp / f"{name}.log"
            try:
                wait(partial(standing_by, log), 120, f"{name} to stand by")
            except SystemExit:
                print(log.read_text()[-2000:])
                raise
        print(
            f"{paths} paths, {len(names)} instances; live from {time.ctime(start_s)} for "
            f"{args.seconds} s; ADC cut for {max(1, regions // 10)} regions at +{cut[0]} s "
            f"to +{cut[1]} s; the holder killed at +{args.seconds // 2} s",
            flush=True,
        )
        wait(lambda: time.time() >= start_s + args.seconds // 2, args.seconds + 120, "halfway")
        holder = max(range(len(names)), key=lambda k: token(ports[k]))
        procs[holder].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        others = [k for k in range(len(names)) if k != holder]
        wait(lambda: any(token(ports[k]) > 0 for k in others), 60, "a takeover")
        takeover_s = time.monotonic() - killed
        survivor = max(others, key=lambda k: token(ports[k]))
        print(
            f"{names[holder]} killed; {names[survivor]} held the station {takeover_s:.2f} s later",
            flush=True,
        )
        pub.join(args.seconds + 300)
        last = start_s + args.seconds - 1
        record = tmp / f"{names[survivor]}.jsonl"
        wait(lambda: max((r.time_s for _t, r in read_record(record)), default=0.0) >= last, 60,
             "the survivor to judge the last second", poll_s=1.0)  # fmt: skip
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            for saved in [*tmp.glob("*.log"), *tmp.glob("*.jsonl"), *tmp.glob("*.toml")]:
                shutil.copy(saved, args.keep / saved.name)
        judged = read_record(record)
        live = [(t, r) for t, r in judged if r.time_s >= start_s]
        keys = Counter((r.region, r.cable, r.time_s) for _t, r in live)
        duplicated = sum(n - 1 for n in keys.values())
        lost = sum(1 for s in range(args.seconds) for i in range(regions) for c in CABLES
                   if (region_id(i), c, start_s + s) not in keys)  # fmt: skip
        lag = p99([t - r.time_s - 1.0 for t, r in live])
        q = {"db": "scale", "q": "SELECT count(version) FROM recommendation"}
        got = httpx.get(f"{influx.url}/query", params=q, timeout=10).json()["results"][0]
        points = got["series"][0]["values"][0][1] if got.get("series") else 0
        bodies = [json.loads(body) for _h, body in received.posts]
        versions = Counter(b["version"] for b in bodies)
        moves = Counter(f"{r['previous'] or 'none'}->{r['cable']}"
                        for r in (b["recommendation"] for b in bodies))  # fmt: skip
        changes = Counter((r["region"], r["previous"], r["cable"], r["since"])
                          for r in (b["recommendation"] for b in bodies))  # fmt: skip
        dup_notes = sum(n - 1 for n in changes.values()) + sum(n - 1 for n in versions.values())
        unrecorded = max(0, len(changes) - points)
        unsent = max(0, points - len(changes))
        kept = paths if lag < 2.0 else 0
        print(f"survivor judged {len(live):,} live rounds; lag p99 {lag:.2f} s; "
              f"{len(received.posts)} webhook deliveries ({dict(moves)}), {points} "
              f"recommendation points ({unrecorded} changes sent but not recorded, {unsent} "
              "recorded but never sent)",
              flush=True)  # fmt: skip
    print(
        f"paths={paths} evaluators={len(names)} paths_at_1s_per_evaluator={kept} "
        f"lag_p99_s={lag:.2f} takeover_s={takeover_s:.2f} lost={lost} "
        f"duplicated={duplicated} duplicate_notifications={dup_notes}"
    )


if __name__ == "__main__":
    main()
