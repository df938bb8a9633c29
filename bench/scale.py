"""One agent probing many targets: CPU, memory, false loss and scheduling skew.

For N = 100, 1,000 and 10,000 loopback targets (127.1.x.y: every one answers, so every lost
packet is false loss), `cablewatch agent` (the real process, spool only, no sink) probes each
with 5 ICMP packets 0.1 s apart, one round per target per second, for --seconds. Measured from
outside the agent:

- cpu_pct: its CPU time (utime + stime, /proc/PID/stat) over the window, in % of one core;
- rss_mib: its peak resident memory (VmHWM);
- false_loss_pct: packets lost in the rounds it spooled (every target answers);
- skew_p99_ms: p99 over rounds of |start - due|, where due = the target's first round in the
  window + k x 1 s (the agent's drift-free schedule); a round due in the window that never
  came (skipped, or a target not probed at all) counts as 1 s late;
- rounds_pct: rounds spooled against rounds due.

With --shards S (default 1), the targets are split into S shards, one agent process each
(`--shard k/S`, as `cablewatch agent --shards S` runs them, each with its own spool): cpu_pct
and rss_mib are then the sums over the processes, cpu_max_pct the busiest one's.

Needs root (raw ICMP). The last line holds the figures for the largest N:

    targets=10000 shards=S cpu_pct=X cpu_max_pct=M rss_mib=Y false_loss_pct=Z skew_p99_ms=W
"""

from __future__ import annotations

import argparse
import math
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from configs import singapore_config
from procstat import cpu_s, status_mib

from cablewatch.agent.shards import shard_spool
from cablewatch.agent.spool import Spool

HEADER = singapore_config(("ADC",), packets=5, packet_interval_s=0.1, timeout_s=0.5)


def address(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


def write_config(path: Path, n: int) -> Path:
    targets = "".join(f'\n[[targets]]\ncable = "ADC"\naddress = "{address(i)}"\n'
                      'protocols = ["icmp"]\n' for i in range(n))  # fmt: skip
    path.write_text(HEADER + targets)
    return path


def rounds(spool: Path, since_ns: int, until_ns: int) -> dict[str, list[tuple[int, int, int]]]:
    """Per target: (start ns, sent, received) of every round spooled in [since, until)."""
    db = Spool(spool)
    out: dict[str, list[tuple[int, int, int]]] = {}
    for text in db.lines("ping,"):
        head, rest = text.split(" ", 1)  # these tags hold no spaces
        fields, stamp = rest.rsplit(" ", 1)
        ts = int(stamp)
        if not since_ns <= ts < until_ns:
            continue
        target = re.search(r",target=([^,]+)", head)
        sent = re.search(r"packets_transmitted=(\d+)i", fields)
        got = re.search(r"packets_received=(\d+)i", fields)
        if target and sent and got:
            out.setdefault(target.group(1), []).append((ts, int(sent.group(1)),
                                                        int(got.group(1))))  # fmt: skip
    db.close()
    return out


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)] if ordered else 0.0


def run(n: int, seconds: float, tmp: Path, shards: int = 1) -> dict[str, float]:
    config = write_config(tmp / f"scale-{n}.toml", n)
    spool = tmp / f"scale-{n}-{shards}.db"
    base = [sys.executable, "-m", "cablewatch", "agent", "--config", str(config),
            "--region", "singapore", "--spool", str(spool), "--host", "bench",
            "--log-level", "warning"]  # fmt: skip
    # one process per shard, as `cablewatch agent --shards N` runs them (measured one by one)
    cmds = [base] if shards == 1 else [[*base, "--shard", f"{k}/{shards}"]
                                       for k in range(1, shards + 1)]  # fmt: skip
    spools = [spool] if shards == 1 else [shard_spool(spool, (k, shards))
                                          for k in range(1, shards + 1)]  # fmt: skip
    log = tmp / f"scale-{n}-{shards}.log"
    with log.open("wb") as out:
        agents = [subprocess.Popen(c, stdout=out, stderr=subprocess.STDOUT) for c in cmds]
    try:
        warm = 5.0  # let every schedule start and the first rounds settle
        time.sleep(warm)  # a measuring window, not a wait for a condition
        if any(a.poll() is not None for a in agents):
            raise SystemExit(f"agent exited: {log.read_text()[-2000:]}")
        t0, c0 = time.time(), [cpu_s(a.pid) for a in agents]
        time.sleep(seconds)
        t1, c1 = time.time(), [cpu_s(a.pid) for a in agents]
        rss_each = [status_mib("VmHWM", a.pid) for a in agents]
    finally:
        for a in agents:
            a.send_signal(signal.SIGTERM)
        for a in agents:
            a.wait(60)
    got: dict[str, list[tuple[int, int, int]]] = {}
    for path in spools:
        got |= rounds(path, int(t0 * 1e9), int((t1 - 1.0) * 1e9))  # whole rounds only
    cpu_each = [100 * (b - a) / (t1 - t0) for a, b in zip(c0, c1, strict=True)]
    sent = sum(s for rs in got.values() for _t, s, _r in rs)
    received = sum(r for rs in got.values() for _t, _s, r in rs)
    window_rounds = int(t1 - 1.0 - t0)  # whole seconds in the window: rounds due per target
    skews: list[float] = []
    made = 0
    for rs in got.values():
        rs.sort()
        first = rs[0][0]
        for ts, _s, _r in rs:
            k = round((ts - first) / 1e9)
            skews.append(abs(ts - (first + k * 1e9)) / 1e6)
        made += len(rs)
    # rounds that never came (skipped, or a target never probed in the window): 1 s late each
    skews += [1000.0] * max(0, n * window_rounds - made)
    due_all = n * window_rounds
    return {
        "cpu_pct": sum(cpu_each),
        "cpu_max_pct": max(cpu_each),
        "rss_mib": sum(rss_each),
        "false_loss_pct": 100 * (sent - received) / sent if sent else float("nan"),
        "skew_p99_ms": p99(skews),
        "rounds_pct": 100 * made / due_all,
        "targets_seen": len(got),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--counts", default="100,1000,10000")
    parser.add_argument("--shards", type=int, default=1)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-scale-"))
    last: tuple[int, dict[str, float]] | None = None
    print("| targets | shards | CPU (% of a core; busiest shard) | RSS (MiB) | false loss | "
          "skew p99 | rounds made |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for n in (int(c) for c in args.counts.split(",")):
        f = run(n, args.seconds, tmp, args.shards)
        print(f"| {n:,} | {args.shards} | {f['cpu_pct']:.0f} ({f['cpu_max_pct']:.0f}) "
              f"| {f['rss_mib']:.0f} | {f['false_loss_pct']:.3f} % "
              f"| {f['skew_p99_ms']:.1f} ms | {f['rounds_pct']:.1f} % of due "
              f"({f['targets_seen']:.0f} targets) |", flush=True)  # fmt: skip
        last = (n, f)
    assert last is not None
    n, f = last
    print(
        f"targets={n} shards={args.shards} cpu_pct={f['cpu_pct']:.0f} "
        f"cpu_max_pct={f['cpu_max_pct']:.0f} rss_mib={f['rss_mib']:.0f} "
        f"false_loss_pct={f['false_loss_pct']:.3f} skew_p99_ms={f['skew_p99_ms']:.1f}"
    )


if __name__ == "__main__":
    main()
