"""Fault detection speed and false alarms, end to end, in a lab of its own.

Agents in the 9 regions probe the 3 cables (ICMP, 5 packets every 1 s, as the lab's fast
configuration), write to InfluxDB; `cablewatch evaluate` (poll 1 s) posts to a real
Alertmanager, which is read back every 0.1 s. Then:

1. false alarms: every cable gets 5 ms jitter (half-normal, each way) and 0.5 % loss for
   --noise-s seconds; every alert Alertmanager shows is a false alarm;
2. detection: --cuts times, a cable (ADC, SJC, APCN-2 in turn) is cut for every region; the
   time from the cut to the cable's alert being active in Alertmanager, and from the restore
   to the alert being resolved.

Beside them, what the classic tools need with their defaults to say the same:
- SmokePing: step 300 s x an alert pattern of 3 rounds (">10%,>10%,>10%", its docs' example)
  = 900 s, and it names a path, not the cable;
- blackbox_exporter + Prometheus: scrape interval 60 s (Prometheus' default) + a rule
  `for: 1m` (the shortest that rides out one failed scrape) = 120 s, plus up to one rule
  evaluation interval (60 s by default), one alert per region.

Needs root. The last line holds the headline figures:

    detect_s=X false_alarms=N smokeping_s=X blackbox_s=X
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cablewatch.config import load_default
from cablewatch.lab import manager
from cablewatch.lab.stack import (
    CABLEWATCH,
    agent_config,
    agents,
    alertmanager,
    evaluator,
    free_port,
    influxd,
    watch_alerts,
)

CABLES = ("ADC", "SJC", "APCN-2")
SMOKEPING_S = 300 * 3
BLACKBOX_S = 60 + 60


def until(url: str, done: Any, timeout_s: float) -> tuple[float, set[str]]:
    """Poll every 0.1 s until ``done(alerts)``; (seconds taken, every alert subject seen)."""
    t0 = time.monotonic()
    history = watch_alerts(url, done, timeout_s)
    seen = {f"{a['labels']['alertname']} {a['labels'].get('subject', '')}"
            for _t, alerts in history for a in alerts}  # fmt: skip
    return history[-1][0] - t0, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--noise-s", type=float, default=300.0)
    parser.add_argument("--cuts", type=int, default=6)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-detection-"))
    opts = manager.LabOptions(state_dir=tmp / "lab", prefix="cwd", mgmt_subnet="198.18.249.0/24")
    state, _ = manager.up(load_default(), opts)
    try:
        host = state["mgmt_host_addr"].split("/")[0]
        with influxd(tmp / "influx", host=host) as influx, alertmanager(tmp / "am") as am:
            config = agent_config(tmp / "cw.toml", influx.url, alertmanager_url=am.url,
                                  icmp_only=True)  # fmt: skip
            subprocess.run([*CABLEWATCH, "db", "init", "--config", str(config)], check=True,
                           capture_output=True)  # fmt: skip
            listen = f"127.0.0.1:{free_port()}"
            with agents(state, config, tmp, listen_port=None), \
                    evaluator(config, tmp / "evaluate.log", listen):  # fmt: skip
                for cable in CABLES:
                    manager.set_links(opts, cable, None, {"jitter_ms": 5.0, "loss_pct": 0.5})
                print(f"noisy baseline (5 ms jitter, 0.5 % loss, every cable) for "
                      f"{args.noise_s:.0f} s ...", flush=True)  # fmt: skip
                t0 = time.monotonic()
                _, false_alarms = until(am.url, lambda a: time.monotonic() - t0 > args.noise_s,
                                        args.noise_s + 60)  # fmt: skip
                manager.restore(opts, None)
                print(f"  alerts seen: {sorted(false_alarms) or 'none'}", flush=True)
                detect, resolve = [], []
                for i in range(args.cuts):
                    cable = CABLES[i % 3]
                    until(am.url, lambda a: a == [], 60)
                    time.sleep(5)  # a few good rounds after the last restore
                    manager.set_links(opts, cable, None, {"cut": True})
                    took, seen = until(am.url, lambda a, c=cable: any(
                        x["labels"].get("cable") == c for x in a), 60)  # fmt: skip
                    detect.append(took)
                    time.sleep(3)
                    manager.restore(opts, cable)
                    back, _ = until(am.url, lambda a: a == [], 60)
                    resolve.append(back)
                    print(f"  cut {cable}: alert after {took:.2f} s ({sorted(seen)}); "
                          f"resolved {back:.2f} s after restore", flush=True)  # fmt: skip
    finally:
        manager.down(opts)
    median = statistics.median(detect)
    print(f"cut -> alert: median {median:.2f} s, max {max(detect):.2f} s over {len(detect)} "
          f"cuts; restore -> resolved: median {statistics.median(resolve):.2f} s")  # fmt: skip
    print(f"false alarms over {args.noise_s:.0f} s of noise (27 paths): {len(false_alarms)}")
    print(f"SmokePing defaults: {SMOKEPING_S} s (step 300 s x pattern of 3); blackbox_exporter: "
          f"{BLACKBOX_S} s (scrape 60 s + for: 1m) + up to 60 s of rule evaluation")  # fmt: skip
    print(f"detect_s={median:.2f} false_alarms={len(false_alarms)} smokeping_s={SMOKEPING_S} "
          f"blackbox_s={BLACKBOX_S}")  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    main()
