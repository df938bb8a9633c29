"""How faithfully the lab's emulated cables reproduce their configured delay and loss.

Brings up a lab of its own (the default Shantou topology: 9 regions x 3 cables), then:

1. delay: every region pings every cable's target at 20 packets/s for --seconds, all 27 paths
   at once (540 packets/s through the emulator, each way). The error of a packet is its RTT
   minus the emulator's ground truth, 2 x the path's configured one-way delay; "early" counts
   packets faster than the ground truth (the emulator must never deliver early). The emulator's
   CPU is read from /proc over the same window.
2. loss: APCN-2 set to 10 % loss for every region; the loss that pings measure against it.
3. jitter: SJC with 5 ms jitter (half-normal sigma per direction); the RTT standard deviation
   measured against the one expected, sigma x sqrt(2 (1 - 2/pi)).

Needs root. The last line holds the headline figures:

    median_error_ms=X p99_error_ms=X early=N loss_error_pct=X cpu_pct=X
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from procstat import cpu_s

from cablewatch.config import load_default
from cablewatch.lab import manager
from cablewatch.probes.icmp_engine import IcmpEngine
from cablewatch.values import percentile

CABLES = ("ADC", "SJC", "APCN-2")


async def ping_paths(
    state: dict[str, Any], cables: tuple[str, ...], count: int, interval_s: float
) -> dict[tuple[str, str], list[float | None]]:
    paths = [p for p in state["paths"] if p["cable"] in cables]
    regions = sorted({p["region"] for p in paths})
    engines = {r: IcmpEngine(netns=state["region_ns"][r]) for r in regions}
    try:
        jobs = []
        for region in regions:
            mine = [p for p in paths if p["region"] == region]
            jobs.append(
                engines[region].ping_many(
                    [p["target"] for p in mine], count=count, interval_s=interval_s, timeout_s=2.0
                )
            )
        results = await asyncio.gather(*jobs)
    finally:
        for engine in engines.values():
            engine.close()
    out = {}
    for region, rounds in zip(regions, results, strict=True):
        mine = [p for p in paths if p["region"] == region]
        for p, rnd in zip(mine, rounds, strict=True):
            out[(region, p["cable"])] = rnd.rtts_ms
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the delay phase")
    parser.add_argument("--loss-packets", type=int, default=600, help="per path, loss phase")
    args = parser.parse_args()
    state_dir = Path(tempfile.mkdtemp(prefix="cablewatch-bench-")) / "state"
    opts = manager.LabOptions(
        state_dir=state_dir, prefix="cwb", mgmt_subnet="198.18.252.0/24", seed=1
    )
    state, message = manager.up(load_default(), opts)
    print(message)
    try:
        emulator = state["processes"]["emulator"]["pid"]
        one_way = {(p["region"], p["cable"]): p["one_way_ms"] for p in state["paths"]}
        count = int(args.seconds * 20)
        print(f"delay: 27 paths x 20 packets/s x {args.seconds:g} s ({27 * count} pings) ...")
        cpu0, t0 = cpu_s(emulator), time.monotonic()
        rtts = asyncio.run(ping_paths(state, CABLES, count, 0.05))
        cpu_pct = 100 * (cpu_s(emulator) - cpu0) / (time.monotonic() - t0)
        errors, lost = [], 0
        for key, path_rtts in rtts.items():
            truth = 2 * one_way[key]
            errors += [r - truth for r in path_rtts if r is not None]
            lost += path_rtts.count(None)
        early = sum(1 for e in errors if e < 0)
        median_err, p99_err = statistics.median(errors), percentile(errors, 99)
        print(f"  RTT - configured RTT: median {median_err:.3f} ms, p99 {p99_err:.3f} ms, "
              f"max {max(errors):.3f} ms, early {early}, lost {lost} of {27 * count}; "
              f"emulator CPU {cpu_pct:.1f} % of one core")  # fmt: skip

        manager.set_links(opts, "APCN-2", None, {"loss_pct": 10.0})
        lossy = asyncio.run(ping_paths(state, ("APCN-2",), args.loss_packets, 0.02))
        sent = sum(len(s) for s in lossy.values())
        measured = 100 * sum(s.count(None) for s in lossy.values()) / sent
        loss_error = abs(measured - 10.0)
        print(f"loss: configured 10 %, measured {measured:.2f} % over {sent} pings "
              f"(binomial sd {100 * math.sqrt(0.1 * 0.9 / sent):.2f} %)")  # fmt: skip
        manager.restore(opts, "APCN-2")

        manager.set_links(opts, "SJC", None, {"jitter_ms": 5.0})
        jittery = asyncio.run(ping_paths(state, ("SJC",), 200, 0.05))
        sds = [statistics.pstdev([r for r in s if r is not None]) for s in jittery.values()]
        expected = 5.0 * math.sqrt(2 * (1 - 2 / math.pi))
        measured_sd = statistics.median(sds)
        print(f"jitter: configured 5 ms per direction; RTT stddev measured {measured_sd:.2f} ms "
              f"(median of 9 paths), expected {expected:.2f} ms")  # fmt: skip
        manager.restore(opts, "SJC")
    finally:
        manager.down(opts)
    print(
        f"median_error_ms={median_err:.3f} p99_error_ms={p99_err:.3f} early={early} "
        f"loss_error_pct={loss_error:.2f} cpu_pct={cpu_pct:.1f}"
    )


if __name__ == "__main__":
    main()
