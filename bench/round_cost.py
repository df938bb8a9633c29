"""What one ICMP round costs in Python on the agent, stage by stage, without the network.

The agent's work a round beside the kernel's (sendto / recvmsg): the round's statistics and
result (probes/icmp.py), its line protocol (six points: the round and one per reply,
collectors/lineprotocol.py), the exporter (counters, gauges and two histograms a path,
collectors/exporter.py), and the spool (one row a round, committed in groups, agent/spool.py).
--targets distinct paths (the exporter's children and line protocol's caches made for each
first, untimed: an agent's steady state), --rounds rounds in all, CPU time (process time) per
stage divided by rounds. The reference measured in
the same run: the kernel's share of a round, five raw ``sendto`` to loopback inside a burst of
1,000 (bench/sendto_cost.py; on loopback the echo reply is made inside it), which fping pays
too. Needs root (a raw socket).

Last line:

    stats_us=A lines_us=B exporter_us=C spool_us=D python_us=A+B+C kernel_us=K ratio=python/K
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sendto_cost import burst_costs_us, engine_like_socket

from cablewatch.agent.spool import Spool
from cablewatch.collectors.exporter import AgentMetrics
from cablewatch.collectors.lineprotocol import result_lines
from cablewatch.probes import icmp
from cablewatch.probes.icmp_engine import PingRound
from cablewatch.probes.result import ProbeResult


def cpu_us(fn: Callable[[], object], rounds: int) -> float:
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=50_000)
    args = parser.parse_args()
    rng = random.Random(1)
    cables = ("ADC", "SJC", "APCN-2")
    labels = [{"region": "singapore", "cable": cables[i % 3], "landing_station": "shantou"}
              for i in range(args.targets)]  # fmt: skip
    addresses = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(args.targets)]
    n = args.rounds

    def rtts() -> list[list[float | None]]:
        return [[None if rng.random() < 0.01 else 60.0 + rng.random() for _ in range(5)]
                for _ in range(n)]  # fmt: skip

    packets = rtts()
    rounds: list[ProbeResult] = []

    def stats() -> None:
        stamp = time.time_ns()
        for k, r in enumerate(packets):
            i = k % args.targets
            rnd = PingRound(addresses[i], r, ttl=64)
            rounds.append(icmp._round_result(rnd, addresses[i], stamp, 1.0, labels[i]))

    stats_us = cpu_us(stats, n)
    lines: list[tuple[str, list[str]]] = []

    def line_protocol() -> None:
        for k, result in enumerate(rounds):
            lines.append((f"icmp|{k % args.targets}", result_lines(result, "sg-probe")))

    for result in rounds[: args.targets]:  # the caches of tags, untimed
        result_lines(result, "sg-probe")
    lines_us = cpu_us(line_protocol, n)
    metrics = AgentMetrics(floors_ms={("singapore", c): 30.0 for c in cables})

    def exporter() -> None:
        for result in rounds:
            metrics.observe(result)

    for result in rounds[: args.targets]:  # each path's children made once, untimed
        metrics.observe(result)
    exporter_us = cpu_us(exporter, n)
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "spool.db")

        def spooled() -> None:
            for k in range(0, n, 1000):
                spool.add(lines[k : k + 1000])

        spool_us = cpu_us(spooled, n)
        spool.close()
    python_us = stats_us + lines_us + exporter_us
    print(f"{args.targets:,} paths, {n:,} rounds of 5 packets (1 % lost); CPU a round: "
          f"statistics and result {stats_us:.1f} us, line protocol {lines_us:.1f} us, exporter "
          f"{exporter_us:.1f} us, spool {spool_us:.1f} us")  # fmt: skip
    sock = engine_like_socket()
    kernel_us = 5 * statistics.median(burst_costs_us(sock, 1000, 20, 0.01))
    sock.close()
    print(f"the kernel's part of a round (5 sendto in a burst, reply included): {kernel_us:.1f} us")
    print(f"stats_us={stats_us:.1f} lines_us={lines_us:.1f} exporter_us={exporter_us:.1f} "
          f"spool_us={spool_us:.1f} python_us={python_us:.1f} kernel_us={kernel_us:.1f} "
          f"ratio={python_us / kernel_us:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
