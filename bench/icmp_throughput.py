"""ICMP engine throughput against fping, in the same run, on loopback only.

Pings N distinct addresses of 127.0.0.0/8 (every one answers on Linux), COUNT packets each,
first with cablewatch's engine (packet i to every address, then
packet i + 1, over one shared socket, as fping sends), then with fping at
its fastest (`-i 0 -p 0` as root). Prints pings/s of each, their ratio and the replies each
missed. Then, once, icmplib's ``async_multiping`` (the card's package) on the first 200
addresses at 200 concurrent tasks: why the engine is not icmplib (a raw socket per host, so
every socket sees every reply and drops some: loss that did not happen). Needs root (raw
sockets, fping's -i 0). The last line holds the headline figures:

    engine_pps=N fping_pps=N ratio=R engine_missed=N fping_missed=N icmplib_pps=N
    icmplib_false_loss_pct=X
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time

from cablewatch.probes.icmp_engine import IcmpEngine


def addresses(n: int) -> list[str]:
    return [f"127.3.{i // 250}.{i % 250 + 1}" for i in range(n)]


async def run_engine(addrs: list[str], count: int, timeout_s: float) -> tuple[float, int, int]:
    async with IcmpEngine() as engine:
        engine.open(v6=False)
        t0 = time.perf_counter()
        rounds = await engine.ping_many(addrs, count=count, interval_s=0.0, timeout_s=timeout_s)
        elapsed = time.perf_counter() - t0
        missed = sum(r.rtts_ms.count(None) for r in rounds)
        return elapsed, missed, engine.socket_drops()


def run_fping(addrs: list[str], count: int, timeout_s: float) -> tuple[float, int]:
    fping = shutil.which("fping")
    if fping is None:
        sys.exit("fping is not installed (apt-get install fping)")
    cmd = [fping, "-C", str(count), "-q", "-i", "0", "-p", "0", "-t", str(int(timeout_s * 1000))]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, input="\n".join(addrs), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    missed = 0
    for line in proc.stderr.splitlines():
        if " : " in line:
            missed += line.split(" : ", 1)[1].split().count("-")
    return elapsed, missed


async def run_icmplib(addrs: list[str], count: int, timeout_s: float) -> tuple[float, int]:
    from icmplib import async_multiping

    t0 = time.perf_counter()
    hosts = await async_multiping(addrs, count=count, interval=0, timeout=timeout_s,
                                  concurrent_tasks=len(addrs), privileged=True)  # fmt: skip
    elapsed = time.perf_counter() - t0
    return elapsed, sum(h.packets_sent - h.packets_received for h in hosts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=2000, help="distinct loopback addresses")
    parser.add_argument("--count", type=int, default=5, help="packets per address")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the best counts")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per packet")
    args = parser.parse_args()
    if args.targets < 1000:
        parser.error("--targets must be at least 1000")
    addrs = addresses(args.targets)
    total = args.targets * args.count
    print(f"{args.targets} loopback addresses x {args.count} packets = {total} pings per run, "
          f"best of {args.repeat} runs each")  # fmt: skip
    engine_best, fping_best = float("inf"), float("inf")
    engine_missed = fping_missed = drops = 0
    for i in range(args.repeat):
        e_s, e_missed, e_drops = asyncio.run(run_engine(addrs, args.count, args.timeout))
        f_s, f_missed = run_fping(addrs, args.count, args.timeout)
        print(f"run {i + 1}: engine {total / e_s:8.0f} pings/s ({e_missed} missed, {e_drops} "
              f"socket drops)   fping {total / f_s:8.0f} pings/s ({f_missed} missed)")  # fmt: skip
        engine_best, fping_best = min(engine_best, e_s), min(fping_best, f_s)
        engine_missed += e_missed
        fping_missed += f_missed
        drops += e_drops
    engine_pps, fping_pps = total / engine_best, total / fping_best
    print(f"engine: {engine_pps:.0f} pings/s, fping: {fping_pps:.0f} pings/s "
          f"(fping's time includes its process start); kernel socket drops: {drops}")  # fmt: skip
    few = addrs[:200]
    i_s, i_missed = asyncio.run(run_icmplib(few, args.count, args.timeout))
    i_total = len(few) * args.count
    i_loss = 100.0 * i_missed / i_total
    print(
        f"icmplib async_multiping, {len(few)} addresses at once: {i_total / i_s:.0f} pings/s, "
        f"{i_missed} of {i_total} replies reported lost although every address answers"
    )
    print(
        f"engine_pps={engine_pps:.0f} fping_pps={fping_pps:.0f} "
        f"ratio={engine_pps / fping_pps:.2f} engine_missed={engine_missed} "
        f"fping_missed={fping_missed} icmplib_pps={i_total / i_s:.0f} "
        f"icmplib_false_loss_pct={i_loss:.1f}"
    )


if __name__ == "__main__":
    main()
