"""The closed loop, run in a lab that is up: agents -> InfluxDB -> `cablewatch serve`
(evaluator, failover, gateway API) -> a gateway stand-in per region (lab/standin.py) that
moves the region's route to the service VIP onto the recommended cable and measures the time
to first token through it. Then, optionally, a noisy baseline, and a cable cut and restore.

Shared by the closed-loop test, bench/api.py and the demo; returns every stand-in record.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cablewatch.config import load
from cablewatch.errors import CablewatchError
from cablewatch.harness.stack import (
    CABLEWATCH,
    add_api,
    agent_config,
    agents,
    free_port,
    influxd,
    stopping,
)
from cablewatch.lab import manager

__all__ = [
    "LoopRun",
    "cable_at",
    "closed_loop",
    "on_cable",
    "read_records",
    "recoveries",
    "standin_command",
    "switches",
    "wait_for",
]


@dataclass
class LoopRun:
    records: dict[str, list[dict[str, Any]]]
    """Per region: the stand-in's records (start, switch, ttft, api_error), in time order."""
    noise: tuple[float, float]
    cut: float
    restore: float
    end: float
    on_cut_cable: list[str]
    """Regions that used the cut cable when it was cut."""
    objective_ms: dict[str, float]
    """Per region: the tightest RTT p95 objective of the SLA policies covering it."""
    serve_log: Path
    step: dict[str, Any] | None = None
    """The latency step, if one was made: region, from, to, switched_s (after the step)."""


def read_records(out: Path) -> dict[str, list[dict[str, Any]]]:
    return {f.stem: [json.loads(ln) for ln in f.read_text().splitlines()]
            for f in out.glob("*.jsonl")}  # fmt: skip


def cable_at(records: list[dict[str, Any]], t: float) -> str:
    cable = ""
    for r in records:
        if r["kind"] in ("start", "switch") and r["t"] <= t:
            cable = r.get("to") or r["cable"]
    return cable


def on_cable(records: dict[str, list[dict[str, Any]]], cable: str, t: float) -> list[str]:
    """The regions whose stand-in used ``cable`` at ``t``."""
    return [r for r, rs in records.items() if cable_at(rs, t) == cable]


def switches(run: LoopRun, region: str, start: float, end: float) -> list[dict[str, Any]]:
    """The region's switches in [start, end), not counting the first recommendation."""
    return [
        r
        for r in run.records[region]
        if r["kind"] == "switch" and start <= r["t"] < end and r["rec_kind"] != "initial"
    ]


def recoveries(run: LoopRun) -> dict[str, dict[str, float]]:
    """Per region moved off the cut cable: when the recommendation was made, when the route
    moved, when the first request through it succeeded within the SLA's RTT (connect time),
    all in seconds after the cut; and the median TTFT before the cut and after recovery."""
    out = {}
    for region in run.on_cut_cable:
        moves = switches(run, region, run.cut, run.end)
        if not moves:
            continue
        move = moves[0]
        ttft = [r for r in run.records[region] if r["kind"] == "ttft" and r["ok"]]
        back = next((r for r in ttft if r["t"] > move["t"]
                     and r["connect_ms"] <= run.objective_ms[region]), None)  # fmt: skip
        before = sorted(r["ttft_ms"] for r in ttft if run.cut - 10 <= r["t"] < run.cut)
        after = sorted(r["ttft_ms"] for r in ttft
                       if back and back["t"] <= r["t"] < run.restore)  # fmt: skip
        since = move["since"]
        out[region] = {
            "recommended_s": (_unix(since) - run.cut) if since else float("nan"),
            "switched_s": move["t"] - run.cut,
            "recovered_s": back["t"] - run.cut if back else float("nan"),
            "ttft_before_ms": before[len(before) // 2] if before else float("nan"),
            "ttft_after_ms": after[len(after) // 2] if after else float("nan"),
        }
    return out


def _unix(iso: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso).timestamp()


def closed_loop(
    opts: manager.LabOptions,
    tmp: Path,
    *,
    interval_s: float = 0.2,
    noise_s: float = 0.0,
    cut_cable: str = "ADC",
    hold_s: float = 10.0,
    after_restore_s: float = 15.0,
    dwell_s: float = 10.0,
    holddown_s: float = 60.0,
    step_region: str | None = None,
    say: Callable[[str], None] = lambda _text: None,
    before_stop: Callable[[str, str], None] | None = None,
) -> LoopRun:
    """The closed loop: agents, `cablewatch serve`, a gateway stand-in per region; an
    optional noisy baseline, an optional latency step (``step_region``'s cable gets its
    one-way delay again: its RTT doubles, until the region moves), then a cut of
    ``cut_cable``, held ``hold_s``, restored, watched ``after_restore_s``; then
    ``before_stop(api_url, token)``, while everything still runs."""
    state = manager.load_state(opts)
    host = state["mgmt_host_addr"].split("/")[0]
    out = tmp / "standins"
    out.mkdir(parents=True, exist_ok=True)
    with influxd(tmp / "influx", host=host) as influx:
        gap = min(0.05, interval_s / 20)
        timeout = min(0.5, interval_s - 4 * gap - 0.01)
        # fresh rounds reach the evaluator fast: the agents flush every quarter interval, the
        # evaluator polls every half (as bench/detection.py)
        config = agent_config(tmp / "cw.toml", influx.url, interval_s=interval_s,
                              packet_interval_s=gap, timeout_s=timeout, icmp_only=True,
                              poll_s=min(0.5, interval_s * 1.25),
                              flush_interval_s=min(0.25, interval_s))  # fmt: skip
        text = config.read_text().replace("dwell_s = 60.0", f"dwell_s = {dwell_s}")
        text = text.replace("sla_interval_s = 60.0", "sla_interval_s = 10.0")  # status pages
        config.write_text(text.replace("holddown_s = 300.0", f"holddown_s = {holddown_s}"))
        port = free_port(host)
        add_api(config, host, port, tmp / "tokens", "standin-token")
        topo = load(config)
        subprocess.run([*CABLEWATCH, "db", "init", "--config", str(config)], check=True,
                       capture_output=True)  # fmt: skip
        serve_log = tmp / "serve.log"
        with serve_log.open("wb") as log:
            serve = subprocess.Popen([*CABLEWATCH, "serve", "--config", str(config), "--listen",
                                      f"127.0.0.1:{free_port()}"], stdout=log,
                                     stderr=subprocess.STDOUT)  # fmt: skip
        standins = []
        try:
            with stopping([serve]), agents(state, config, tmp, listen_port=None):
                for region in state["region_ns"]:
                    cmd = standin_command(state, opts, region, [f"http://{host}:{port}"],
                                          tmp / "tokens", out)  # fmt: skip
                    standins.append(subprocess.Popen(cmd, stderr=subprocess.DEVNULL))
                with stopping(standins):
                    wait_for(lambda: len(r := read_records(out)) == 9 and all(
                        any(x["kind"] == "switch" for x in rs) for rs in r.values()),
                        60 + 20 * interval_s, "every stand-in following a recommendation",
                        serve, serve_log)  # fmt: skip
                    say("every region's gateway stand-in follows a recommendation")
                    noise_start = noise_end = time.time()
                    if noise_s:
                        for cable in state["cables"]:
                            manager.set_links(opts, cable, None,
                                              {"jitter_ms": 5.0, "loss_pct": 0.5})  # fmt: skip
                        say(f"noisy baseline (5 ms jitter, 0.5 % loss) for {noise_s:.0f} s")
                        time.sleep(noise_s)  # what must NOT happen has no event to await
                        manager.restore(opts, None)
                        noise_end = time.time()
                        time.sleep(5)
                    step = None
                    if step_region is not None:
                        step = _step(opts, state, out, step_region, serve, serve_log, say)
                    cut = time.time()
                    on_cut = on_cable(read_records(out), cut_cable, cut)
                    manager.set_links(opts, cut_cable, None, {"cut": True})
                    say(f"{cut_cable} cut; regions on it: {', '.join(on_cut) or 'none'}")
                    wait_for(lambda: all(cable_at(read_records(out)[r], time.time()) != cut_cable
                                      for r in on_cut), 60, f"every region off {cut_cable}",
                          serve, serve_log)  # fmt: skip
                    time.sleep(hold_s)
                    restore = time.time()
                    manager.restore(opts, cut_cable)
                    say(f"{cut_cable} restored; watching {after_restore_s:.0f} s for flapping")
                    time.sleep(after_restore_s)
                    end = time.time()
                    if before_stop is not None:
                        before_stop(f"http://{host}:{port}", "standin-token")
        finally:
            manager.restore(opts, None)
    objective = {r: min((p.rtt_p95_ms for p in topo.slas if r in p.regions), default=1e9)
                 for r in state["region_ns"]}  # fmt: skip
    return LoopRun(read_records(out), (noise_start, noise_end), cut, restore, end, on_cut,
                   objective, serve_log, step)  # fmt: skip


def standin_command(state: dict[str, Any], opts: manager.LabOptions, region: str,
                    apis: list[str], tokens: Path, out: Path) -> list[str]:  # fmt: skip
    """The gateway stand-in of ``region`` in its namespace, asking ``apis`` in turn, polling
    and measuring every 0.25 s, writing to ``out/REGION.jsonl``."""
    cmd = ["ip", "netns", "exec", state["region_ns"][region], sys.executable, "-m",
           "cablewatch.lab.standin", "--region", region, "--token-file", str(tokens),
           "--state", str(opts.state_file), "--out", str(out / f"{region}.jsonl"),
           "--poll-s", "0.25", "--probe-s", "0.25"]  # fmt: skip
    for api in apis:
        cmd += ["--api", api]
    return cmd


def _step(opts: manager.LabOptions, state: dict[str, Any], out: Path, region: str,
          serve: subprocess.Popen[bytes], serve_log: Path,
          say: Callable[[str], None]) -> dict[str, Any]:  # fmt: skip
    """Double ``region``'s RTT on its current cable until it moves; then undo it."""
    cable = cable_at(read_records(out)[region], time.time())
    path = next(p for p in state["paths"] if p["region"] == region and p["cable"] == cable)
    t0 = time.time()
    manager.set_links(opts, cable, region, {"add_delay_ms": path["one_way_ms"]})
    say(f"{region}: RTT over {cable} doubled ({path['floor_rtt_ms']:.1f} ms more)")
    wait_for(lambda: cable_at(read_records(out)[region], time.time()) != cable, 120,
          f"{region} off {cable}", serve, serve_log)  # fmt: skip
    move = next(r for r in read_records(out)[region] if r["kind"] == "switch" and r["t"] >= t0)
    manager.set_links(opts, cable, region, {"add_delay_ms": 0.0})
    say(f"{region} moved to {move['to']} {move['t'] - t0:.1f} s after the step ({move['reason']})")
    time.sleep(5)
    return {"region": region, "from": cable, "to": move["to"], "switched_s": move["t"] - t0}


def wait_for(condition: Callable[[], object], timeout_s: float, what: str,
          proc: subprocess.Popen[bytes], log: Path) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc.poll() is not None:
            raise CablewatchError(f"cablewatch serve exited: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise CablewatchError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.1)
