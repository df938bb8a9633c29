"""Fault detection speed and false alarms, end to end, in a lab of its own.

Agents in the 9 regions probe the 3 cables (ICMP, 5 packets every 1 s, as the lab's fast
configuration; the sender flushes every 0.25 s), write to InfluxDB; `cablewatch serve`
(evaluator poll 0.5 s, failover, the gateway API) posts to a real Alertmanager, which is read
back every 0.1 s. Then:

1. false alarms: every cable gets 5 ms jitter (half-normal, each way) and 0.5 % loss for
   --noise-s seconds (default 10 minutes); every alert Alertmanager shows is a false alarm;
2. flaps: 30 % loss on Tokyo over SJC for --lossy-s seconds (default 3 minutes): every alert
   raised after the first one, or raised again after resolving, is a flap;
3. a minority degradation: 50 % loss over ADC for Jakarta (joining at Tuas) and Bangkok (at
   Sriracha), the other 7 regions fine; partial_ok = 1 when it is one warning-level
   CablewatchCablePartialFault whose customers are only Jakarta's and Bangkok's
   (sea-retail), ADC is never "down" in the API, and failover moves only the regions that
   were on ADC among the two;
4. detection: --cuts times, a cable (ADC, SJC, APCN-2 in turn) is cut for every region; the
   time from the cut to the cable's alert being active in Alertmanager, and from the restore
   to the alert being resolved.

Beside them, what the classic tools need with their defaults to say the same:
- SmokePing: step 300 s x an alert pattern of 3 rounds (">10%,>10%,>10%", its docs' example)
  = 900 s, and it names a path, not the cable;
- blackbox_exporter + Prometheus: scrape interval 60 s (Prometheus' default) + a rule
  `for: 1m` (the shortest that rides out one failed scrape) = 120 s, plus up to one rule
  evaluation interval (60 s by default), one alert per region.

Needs root. The last line holds the headline figures:

    detect_s=X false_alarms=N flaps=F partial_ok=P smokeping_s=X blackbox_s=X
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

import httpx

from cablewatch.config import load_default
from cablewatch.harness.stack import (
    CABLEWATCH,
    add_api,
    agent_config,
    agents,
    alertmanager,
    evaluator,
    free_port,
    influxd,
    wait_http,
    watch_alerts,
)
from cablewatch.lab import manager

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


def api_state(api: httpx.Client) -> tuple[dict[str, str], dict[str, str]]:
    """(region -> recommended cable, cable -> status) from the gateway API."""
    recs = api.get("/v1/recommendations").json()["recommendations"]
    cables = api.get("/v1/cables").json()["cables"]
    return {r["region"]: r["cable"] for r in recs}, {c["cable"]: c["status"] for c in cables}


def minority(opts: manager.LabOptions, am_url: str, api: httpx.Client) -> int:
    """Case 3 of the module: 1 when classified and routed as it should be, else 0."""
    before, _ = api_state(api)
    for region in ("jakarta", "bangkok"):
        manager.set_links(opts, "ADC", region, {"loss_pct": 50.0})
    statuses: set[str] = set()
    t0 = time.monotonic()

    def done(_alerts: object) -> bool:
        statuses.add(api_state(api)[1]["ADC"])
        return time.monotonic() - t0 > 15

    history = watch_alerts(am_url, done, 30)
    after, _ = api_state(api)
    manager.restore(opts, "ADC")
    manager.set_links(opts, "ADC", None, {"jitter_ms": 5.0, "loss_pct": 0.5})
    alerts = {(a["labels"]["alertname"], a["labels"]["severity"], a["labels"]["customers"])
              for _t, al in history for a in al}  # fmt: skip
    moved = {r for r in before if before[r] != after[r]}
    expected = {r for r in ("jakarta", "bangkok") if before[r] == "ADC"}
    ok = (alerts == {("CablewatchCablePartialFault", "warning", "sea-retail")}
          and "down" not in statuses and moved == expected)  # fmt: skip
    print(f"  minority degradation: alerts {sorted(alerts)}; ADC states {sorted(statuses)}; "
          f"moved {sorted(moved)} (on ADC before: {sorted(expected)}): "
          f"{'ok' if ok else 'NOT OK'}", flush=True)  # fmt: skip
    return int(ok)


def flaps(opts: manager.LabOptions, am_url: str, seconds: float) -> int:
    """Case 2 of the module: alerts raised beyond the first one, or raised again."""
    manager.set_links(opts, "SJC", "tokyo", {"loss_pct": 30.0})
    t0 = time.monotonic()
    history = watch_alerts(am_url, lambda _a: time.monotonic() - t0 > seconds, seconds + 60)
    manager.set_links(opts, "SJC", "tokyo", {"jitter_ms": 5.0, "loss_pct": 0.5})
    raised, present, ids = 0, False, set()
    for _t, alerts in history:
        now = [a for a in alerts if a["labels"].get("subject") == "tokyo/SJC"]
        ids |= {a["annotations"]["event_id"] for a in now}
        raised += int(bool(now) and not present)
        present = bool(now)
    first = next((t for t, al in history if al), None)
    print(
        f"  30 % loss on tokyo/SJC for {seconds:.0f} s: {raised} raise(s), {len(ids)} "
        f"event(s); first alert after "
        f"{'-' if first is None else f'{first - history[0][0]:.1f} s'}",
        flush=True,
    )
    return max(0, raised - 1) + max(0, len(ids) - 1) + int(raised == 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--noise-s", type=float, default=600.0)
    parser.add_argument("--lossy-s", type=float, default=180.0)
    parser.add_argument("--cuts", type=int, default=6)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-detection-"))
    opts = manager.LabOptions(state_dir=tmp / "lab", prefix="cwd", mgmt_subnet="198.18.249.0/24")
    state, _ = manager.up(load_default(), opts)
    try:
        host = state["mgmt_host_addr"].split("/")[0]
        with influxd(tmp / "influx", host=host) as influx, alertmanager(tmp / "am") as am:
            config = agent_config(tmp / "cw.toml", influx.url, alertmanager_url=am.url,
                                  icmp_only=True, poll_s=0.5, flush_interval_s=0.25)  # fmt: skip
            url = add_api(config, "127.0.0.1", free_port(), tmp / "tokens", "bench")
            subprocess.run([*CABLEWATCH, "db", "init", "--config", str(config)], check=True,
                           capture_output=True)  # fmt: skip
            listen = f"127.0.0.1:{free_port()}"
            api = httpx.Client(base_url=url, headers={"Authorization": "Bearer bench"}, timeout=5)
            log = tmp / "serve.log"
            with agents(state, config, tmp, listen_port=None), \
                    evaluator(config, log, listen, command="serve") as serve:  # fmt: skip
                wait_http(f"{url}/healthz", (200,), serve, log)
                for cable in CABLES:
                    manager.set_links(opts, cable, None, {"jitter_ms": 5.0, "loss_pct": 0.5})
                print(f"noisy baseline (5 ms jitter, 0.5 % loss, every cable) for "
                      f"{args.noise_s:.0f} s ...", flush=True)  # fmt: skip
                t0 = time.monotonic()
                _, false_alarms = until(am.url, lambda a: time.monotonic() - t0 > args.noise_s,
                                        args.noise_s + 60)  # fmt: skip
                recs = api.get("/v1/recommendations").json()["recommendations"]
                kinds = {r["kind"] for r in recs}
                print(f"  alerts seen: {sorted(false_alarms) or 'none'}; recommendation kinds: "
                      f"{sorted(kinds)}", flush=True)  # fmt: skip
                partial_ok = minority(opts, am.url, api)
                until(am.url, lambda a: a == [], 60)
                flapped = flaps(opts, am.url, args.lossy_s)
                until(am.url, lambda a: a == [], 60)
                manager.restore(opts, None)
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
    print(f"false alarms over {args.noise_s:.0f} s of noise (27 paths): {len(false_alarms)}; "
          f"flaps under {args.lossy_s:.0f} s of 30 % loss: {flapped}; minority degradation "
          f"classified and routed: {'yes' if partial_ok else 'no'}")  # fmt: skip
    print(f"SmokePing defaults: {SMOKEPING_S} s (step 300 s x pattern of 3); blackbox_exporter: "
          f"{BLACKBOX_S} s (scrape 60 s + for: 1m) + up to 60 s of rule evaluation")  # fmt: skip
    print(f"detect_s={median:.2f} false_alarms={len(false_alarms)} flaps={flapped} "
          f"partial_ok={partial_ok} smokeping_s={SMOKEPING_S} blackbox_s={BLACKBOX_S}")  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    main()
