"""The idle cost of a small agent, beside Debian's prometheus-smokeping-prober in the same run.

Both probe the same 3 loopback targets (127.0.0.1-3: they all answer) at 5 ICMP packets a
second each for --seconds (default 120), after a 10 s warm-up, scraped by nothing (the bench
scrapes each once, after the window, to check that it probed):

- cablewatch: `cablewatch agent` (the real process: spool on disk, exporter on loopback, no
  sink), one round a second per target of 5 packets 0.2 s apart (0.2 s timeout: the round
  fits its second; loopback answers in microseconds);
- the peer: `prometheus-smokeping-prober --privileged -i 200ms` (Go, pro-bing).

Measured from outside: CPU (utime + stime over the window, % of one core) and resident memory
(VmRSS at the end, VmHWM beside it), packets a second each sent (the agent's spooled rounds,
the peer's `smokeping_requests_total`). Needs root (raw ICMP). Last line:

    cw_cpu_pct=X peer_cpu_pct=Y cpu_ratio=R cw_rss_mib=A peer_rss_mib=B
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from configs import singapore_config
from procstat import cpu_s, status_mib

from cablewatch.agent.spool import Spool
from cablewatch.harness.stack import free_port

TARGETS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
CABLES = ("ADC", "SJC", "APCN-2")
PEER = "prometheus-smokeping-prober"

CONFIG = singapore_config(CABLES, packets=5, packet_interval_s=0.2, timeout_s=0.2)


def _sent(spool: Path, since_ns: int, until_ns: int) -> int:
    """ICMP packets the agent sent in the rounds it spooled in [since, until)."""
    db = Spool(spool)
    total = 0
    for text in db.lines("ping,"):
        fields, stamp = text.rsplit(" ", 1)
        if since_ns <= int(stamp) < until_ns and (m := re.search(r"packets_transmitted=(\d+)i",
                                                                 fields)):  # fmt: skip
            total += int(m.group(1))
    db.close()
    return total


def _peer_requests(url: str) -> float:
    text = httpx.get(url, timeout=5).text
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines()
               if ln.startswith("smokeping_requests_total"))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    peer_bin = shutil.which(PEER)
    if peer_bin is None:
        raise SystemExit(f"{PEER} not found: apt-get install {PEER}")
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-footprint-"))
    config = tmp / "footprint.toml"
    config.write_text(CONFIG + "".join(
        f'\n[[targets]]\ncable = "{c}"\naddress = "{a}"\nprotocols = ["icmp"]\n'
        for c, a in zip(CABLES, TARGETS, strict=True)))  # fmt: skip
    spool = tmp / "footprint.db"
    cw_port, peer_port = free_port(), free_port()
    agent_cmd = [sys.executable, "-m", "cablewatch", "agent", "--config", str(config),
                 "--region", "singapore", "--spool", str(spool), "--host", "bench",
                 "--listen", f"127.0.0.1:{cw_port}", "--log-level", "warning"]  # fmt: skip
    peer_cmd = [peer_bin, "--privileged", "-i", "200ms",
                f"--web.listen-address=127.0.0.1:{peer_port}", "--log.level=warn",
                *TARGETS]  # fmt: skip
    with (tmp / "cablewatch.log").open("wb") as a_log, (tmp / "peer.log").open("wb") as p_log:
        agent = subprocess.Popen(agent_cmd, stdout=a_log, stderr=subprocess.STDOUT)
        peer = subprocess.Popen(peer_cmd, stdout=p_log, stderr=subprocess.STDOUT)
    procs = {"cablewatch": agent, "peer": peer}
    try:
        time.sleep(10.0)  # warm-up: a measuring window follows, not a wait for a condition
        for name, p in procs.items():
            if p.poll() is not None:
                raise SystemExit(f"{name} exited: {(tmp / f'{name}.log').read_text()[-2000:]}")
        peer_url = f"http://127.0.0.1:{peer_port}/metrics"
        r0 = _peer_requests(peer_url)
        t0 = time.time()
        c0 = {n: cpu_s(p.pid) for n, p in procs.items()}
        time.sleep(args.seconds)
        c1 = {n: cpu_s(p.pid) for n, p in procs.items()}
        t1 = time.time()
        rss = {n: status_mib("VmRSS", p.pid) for n, p in procs.items()}
        hwm = {n: status_mib("VmHWM", p.pid) for n, p in procs.items()}
        r1 = _peer_requests(peer_url)
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for p in procs.values():
            p.wait(30)
    span = t1 - t0
    cpu = {n: 100 * (c1[n] - c0[n]) / span for n in procs}
    # whole rounds inside the window (a round is stamped at its start, lasts ~1.3 s)
    pps = {"cablewatch": _sent(spool, int(t0 * 1e9), int((t1 - 2.0) * 1e9)) / (span - 2.0),
           "peer": (r1 - r0) / span}  # fmt: skip
    print(f"{len(TARGETS)} targets at 5 packets/s each, {span:.0f} s, same run")
    print("| prober | CPU (% of a core) | RSS (MiB) | peak RSS (MiB) | packets/s sent |")
    print("|---|---|---|---|---|")
    for n in procs:
        label = "cablewatch agent" if n == "cablewatch" else PEER
        print(f"| {label} | {cpu[n]:.2f} | {rss[n]:.1f} | {hwm[n]:.1f} | {pps[n]:.1f} |")
    print(f"cw_cpu_pct={cpu['cablewatch']:.2f} peer_cpu_pct={cpu['peer']:.2f} "
          f"cpu_ratio={cpu['cablewatch'] / cpu['peer']:.2f} cw_rss_mib={rss['cablewatch']:.1f} "
          f"peer_rss_mib={rss['peer']:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
