"""Traceroute in the lab: cost per traced path against Debian's traceroute, attribution of all
27 region x cable paths, the wet segment against the emulator's ground truth, and how fast a
BGP-like reroute of a service path is confirmed.

Brings up a lab of its own (the default Shantou topology), then:

1. every region traces its three cables' targets, one path after another, with cablewatch's
   Paris traceroute (ICMP, 3 queries a hop, run in the region's namespace) and with Debian's
   ``traceroute -I -n -q 3`` (the reference); wall time per path for each, and the hops
   compared address for address;
2. each trace's cable attribution and wet segment: the jump's error against the path's
   configured round trip (the emulator's ground truth, 2 x one-way delay);
3. jakarta's service path is traced every --interval seconds and fed to the route tracker
   (2 traces in a row confirm, as the evaluator does); `lab reroute jakarta --via SJC` moves it;
   the time from the reroute to the confirmed change (the tracker alone);
4. the whole pipeline: an agent per region (ICMP every 1 s, service-path traces every
   --interval s, flushing every 0.25 s) into a real InfluxDB, `cablewatch evaluate` (poll
   0.5 s) and Alertmanager. `lab reroute jakarta --via SJC`, then back: the time from each to
   its `CablewatchRouteChange` alert in Alertmanager, and whether any fault alert came.

Needs root. The last line holds the headline figures:

    trace_ms_per_path=X reroute_detect_s=Y attributed_ok=K of_paths=27 ...
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from cablewatch.config import load_default
from cablewatch.correlation.routes import RouteTracker, TraceSeen
from cablewatch.harness.stack import (
    CABLEWATCH,
    active_alerts,
    agent_config,
    agents,
    alertmanager,
    evaluator,
    free_port,
    influxd,
)
from cablewatch.lab import manager
from cablewatch.probes.result import ProbeResult
from cablewatch.probes.spec import ProbeContext
from cablewatch.probes.traceroute import TraceSettings, attributed, trace
from cablewatch.topology.model import Topology


async def ours(topology: Topology, ns: str, target: str, labels: dict[str, str]) -> ProbeResult:
    """One trace from namespace ``ns``, attributed (names off: the hosts file is the lab
    namespace's, which an in-process trace does not see; prefixes attribute alone)."""
    result = await trace(target, TraceSettings(), netns=ns, labels=labels, names=False)
    return attributed(result, ProbeContext(netns=ns, topology=topology))


def reference(ns: str, target: str) -> tuple[list[str], float]:
    t0 = time.monotonic()
    argv = ["ip", "netns", "exec", ns, "traceroute", "-I", "-n", "-q", "3", "-w", "2", target]
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    elapsed = time.monotonic() - t0
    return [ln.split()[1] for ln in proc.stdout.splitlines()[1:]], elapsed


async def reroute_detect_s(
    opts: manager.LabOptions, topology: Topology, state: dict[str, Any], interval_s: float
) -> float:
    ns, vip = state["region_ns"]["jakarta"], state["service_vip"]
    tracker = RouteTracker(confirm=2)
    moved_at: float | None = None
    start = time.monotonic()
    while True:
        if moved_at is None and time.monotonic() - start >= 3 * interval_s:
            manager.reroute(opts, "jakarta", "SJC")
            moved_at = time.monotonic()
        t0 = time.monotonic()
        r = await ours(topology, ns, vip, {"region": "jakarta"})
        tr = r.trace
        assert tr is not None
        seen = TraceSeen("jakarta", t0, tr.cable, tuple(tr.sequence.split()),
                         tr.hops[-1].min_ms if tr.hops else None, tr.reached)  # fmt: skip
        change = tracker.observe(seen)
        if change is not None:
            assert moved_at is not None, change
            assert change.after.cable == "SJC", change
            return time.monotonic() - moved_at
        if moved_at is not None and time.monotonic() - moved_at > 20 * interval_s:
            raise SystemExit("the reroute was never confirmed")
        await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - t0)))


def route_alerts(url: str) -> list[dict[str, Any]]:
    return [a for a in active_alerts(url)
            if a["labels"]["alertname"] == "CablewatchRouteChange"]  # fmt: skip


def pipeline_reroute(
    opts: manager.LabOptions, state: dict[str, Any], tmp: Path, interval_s: float
) -> tuple[float, float, int]:
    """(seconds to the route alert after the reroute, after the way back, fault alerts)."""
    host = state["mgmt_host_addr"].split("/")[0]
    with influxd(tmp / "influx", host=host) as influx, alertmanager(tmp / "am") as am:
        config = agent_config(tmp / "cw.toml", influx.url, alertmanager_url=am.url,
                              icmp_only=True, service_path=True, trace_interval_s=interval_s,
                              poll_s=0.5, flush_interval_s=0.25)  # fmt: skip
        subprocess.run([*CABLEWATCH, "db", "init", "--config", str(config)], check=True,
                       capture_output=True)  # fmt: skip
        with agents(state, config, tmp, listen_port=None), \
                evaluator(config, tmp / "evaluate.log", f"127.0.0.1:{free_port()}"):  # fmt: skip
            time.sleep(max(10.0, 4 * interval_s))  # every region's route learnt
            took = []
            for via, back in (("SJC", "ADC"), ("ADC", "SJC")):
                before = {a["annotations"]["event_id"] for a in route_alerts(am.url)}
                t0 = time.monotonic()
                manager.reroute(opts, "jakarta", via)
                while True:
                    new = [a for a in route_alerts(am.url)
                           if a["annotations"]["event_id"] not in before]  # fmt: skip
                    if new:
                        took.append(time.monotonic() - t0)
                        summary = new[0]["annotations"]["summary"]
                        assert f"from {back} to {via}" in summary, summary
                        print(f"  {summary}: alert after {took[-1]:.2f} s", flush=True)
                        break
                    if time.monotonic() - t0 > 30 * interval_s + 30:
                        raise SystemExit(f"no route alert after rerouting to {via}")
                    time.sleep(0.05)
            faults = [a for a in active_alerts(am.url)
                      if a["labels"]["alertname"] != "CablewatchRouteChange"]  # fmt: skip
    return took[0], took[1], len(faults)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between service-path traces in the reroute test")  # fmt: skip
    args = parser.parse_args()
    state_dir = Path(tempfile.mkdtemp(prefix="cablewatch-bench-")) / "state"
    opts = manager.LabOptions(state_dir=state_dir, prefix="cwr", mgmt_subnet="198.18.245.0/24",
                              seed=1)  # fmt: skip
    config = load_default()
    state, message = manager.up(config, opts)
    print(message)
    try:
        ours_ms, ref_ms, errors, agree, ok = [], [], [], 0, 0
        for p in state["paths"]:
            t0 = time.monotonic()
            r = asyncio.run(ours(config.topology, p["namespace"], p["target"],
                                 {"region": p["region"], "cable": p["cable"]}))  # fmt: skip
            ours_ms.append((time.monotonic() - t0) * 1000)
            tr = r.trace
            assert tr is not None
            hops, ref_s = reference(p["namespace"], p["target"])
            ref_ms.append(ref_s * 1000)
            agree += [h.address or "*" for h in tr.hops] == hops
            ok += tr.cable == p["cable"]
            if tr.wet_jump_ms is not None:
                errors.append(tr.wet_jump_ms - p["floor_rtt_ms"])
            print(f"{p['region']:>17} {p['cable']:<7} {tr.cable:<7} hops={len(tr.hops)} "
                  f"wet_jump={tr.wet_jump_ms} ms floor={p['floor_rtt_ms']:.2f} ms "
                  f"ours={ours_ms[-1]:.0f} ms traceroute={ref_ms[-1]:.0f} ms")  # fmt: skip
        n = len(state["paths"])
        print(f"hops agree with traceroute: {agree} of {n}; attributed right: {ok} of {n}")
        print(
            f"wet-segment jump minus ground truth: median {statistics.median(errors):.3f} ms, "
            f"max |error| {max(abs(e) for e in errors):.3f} ms over {len(errors)} paths"
        )
        mean_ours, mean_ref = statistics.mean(ours_ms), statistics.mean(ref_ms)
        print(
            f"time per path: ours {mean_ours:.0f} ms, traceroute {mean_ref:.0f} ms "
            f"(ratio {mean_ref / mean_ours:.2f}: above 1 = faster than traceroute)"
        )
        detect = asyncio.run(reroute_detect_s(opts, config.topology, state, args.interval))
        print(
            f"reroute confirmed {detect:.2f} s after `lab reroute` (traces every "
            f"{args.interval:g} s, 2 in a row)"
        )
        manager.reroute(opts, "jakarta", "ADC")
        print("the whole pipeline: agents -> InfluxDB -> evaluate -> Alertmanager", flush=True)
        alert_s, back_s, faults = pipeline_reroute(opts, state, state_dir.parent, args.interval)
        print(f"route alerts {alert_s:.2f} s and {back_s:.2f} s after each reroute (traces every "
              f"{args.interval:g} s); fault alerts: {faults}")  # fmt: skip
    finally:
        manager.down(opts)
    print(
        f"trace_ms_per_path={mean_ours:.0f} reroute_detect_s={detect:.2f} attributed_ok={ok} "
        f"of_paths={n} hops_agree={agree} traceroute_ratio={mean_ref / mean_ours:.2f} "
        f"wet_max_error_ms={max(abs(e) for e in errors):.3f} pipeline_alert_s={alert_s:.2f} "
        f"pipeline_back_s={back_s:.2f} fault_alerts={faults}"
    )


if __name__ == "__main__":
    main()
