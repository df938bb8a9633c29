"""One-way delay through the lab, for its tests (tests/integration/test_stamp_lab.py,
test_return_lab.py) and bench/oneway.py: STAMP rounds from the regions against the emulator's
record of what it applied each way (``stamp_paths``, ``applied_medians``), and a cut of the
cable a region's replies come back over, end to end (``return_cut``).

Agents in every region probe ICMP and STAMP every second (the lab's one clock: one-way figures
trusted), write to InfluxDB; `cablewatch serve` posts to a real Alertmanager. The station's
replies to every address of ``region`` are routed back over ``back`` (`lab reroute --return`);
once the evaluator says so (its CablewatchAsymmetricReturn alert), ``back`` is cut for every
region until a fault alert for it is active and ``hold_s`` more; then restored, and the
region's way back made symmetric again. Optionally (``shift``), a +``shift_ms`` step on one
path afterwards, timed to its CablewatchBaselineShift alert.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cablewatch.correlation.returns import describe
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
from cablewatch.lab import control, manager

__all__ = [
    "CABLES",
    "INFO_ALERTS",
    "ReturnCut",
    "applied_delays",
    "applied_medians",
    "lower_median",
    "return_cut",
    "stamp_paths",
]

CABLES = ("ADC", "SJC", "APCN-2")
PathKey = tuple[str, str]


Applied = dict[str, tuple[float, float]]
"""A statistic's name -> (up, down) in ms."""


def applied_delays(opts: manager.LabOptions,
                   stats: tuple[str, ...] = ("median_ms",)) -> dict[PathKey, Applied]:  # fmt: skip
    """Per path that carried packets since the previous call (the first starts the emulator's
    record): each of ``stats`` (min_ms, median_ms, p99_ms, max_ms) of the delay the emulator
    gave its packets, (up, down); a direction that carried none: nan."""
    reply = control.request(str(opts.state_dir / "emulator.sock"), {"cmd": "delays"})
    return {(p["region"], p["cable"]): {k: (p["up"].get(k, math.nan), p["down"].get(k, math.nan))
                                        for k in stats}
            for p in reply["paths"] if p["up"]["packets"] or p["down"]["packets"]}  # fmt: skip


def applied_medians(opts: manager.LabOptions) -> dict[PathKey, tuple[float, float]]:
    """(up, down) median delay the emulator gave each path's packets since the previous call
    (the first starts its record; a direction that carried none: nan)."""
    return {key: got["median_ms"] for key, got in applied_delays(opts).items()}


def stamp_paths(opts: manager.LabOptions, *, count: int, timeout_s: float = 1.0,
                regions: tuple[str, ...] = ()) -> dict[PathKey, Any]:  # fmt: skip
    """From every region (or these) at once, one STAMP round to each cable's target
    (`cablewatch stamp --region`, the lab's one clock: error 0, in the region's namespace),
    20 ms between packets: (region, cable) -> the result's JSON."""
    targets = manager.targets(opts)

    def region(name: str) -> list[tuple[PathKey, Any]]:
        addrs = [targets[name][c]["target"] for c in CABLES]
        argv = manager.exec_command(opts, name, [
            *CABLEWATCH, "stamp", *addrs, "-c", str(count), "-i", "0.02", "-W", str(timeout_s),
            "--json", "--region", name, "--clock-error-ms", "0"])  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"cablewatch stamp in {name}: {proc.stderr.strip()}")
        rows = json.loads(proc.stdout)
        return [((name, c), row) for c, row in zip(CABLES, rows, strict=True)]

    names = regions or tuple(targets)
    with ThreadPoolExecutor(len(names)) as pool:
        return dict(kv for rows in pool.map(region, names) for kv in rows)


def lower_median(values: list[float | None]) -> float | None:
    """The lower median, as the emulator's record gives it (None: no value)."""
    got = sorted(v for v in values if v is not None)
    return got[(len(got) - 1) // 2] if got else None


INFO_ALERTS = {"CablewatchAsymmetricReturn", "CablewatchRouteChange", "CablewatchBaselineShift"}
"""Not faults."""


@dataclass
class ReturnCut:
    region: str
    back: str
    asymmetric: str
    """The summary of the region's CablewatchAsymmetricReturn alert before the cut."""
    confirmed_s: float
    """From the reroute to that alert."""
    faults: dict[tuple[str, str], str] = field(default_factory=dict)
    """Every fault alert active during the cut: (alertname, subject) -> summary."""
    detect_s: float | None = None
    """From the cut to the first fault alert for ``back``."""
    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)
    """Every region's recommended cable before the cut and at its end."""
    shift_s: float | None = None
    """From the step (``shift``) to its baseline-shift alert."""
    shift_summary: str = ""

    @property
    def blamed_right(self) -> bool:
        """One fault alert, the cable's, naming the region's other paths as coming back over
        it; the region not moved."""
        if list(self.faults) != [("CablewatchCableFault", self.back)]:
            return False
        text = self.faults[("CablewatchCableFault", self.back)]
        kept = self.region in self.before and self.before == {
            **self.before, self.region: self.after.get(self.region)}  # fmt: skip
        return f"replies come back over it for {self.region} out over" in text and kept


def _recommendations(api: httpx.Client) -> dict[str, str]:
    recs = api.get("/v1/recommendations").json()["recommendations"]
    return {r["region"]: r["cable"] for r in recs}


def return_cut(opts: manager.LabOptions, tmp: Path, *, region: str = "singapore",
               back: str = "SJC", hold_s: float = 5.0, shift: tuple[str, str] | None = None,
               shift_ms: float = 3.0) -> ReturnCut:  # fmt: skip
    """Run the module's scenario in the lab of ``opts`` (up); files under ``tmp``."""
    state = json.loads((opts.state_dir / "lab.json").read_text())
    host = state["mgmt_host_addr"].split("/")[0]
    with influxd(tmp / "influx", host=host) as influx, alertmanager(tmp / "am") as am:
        config = agent_config(tmp / "cw.toml", influx.url, alertmanager_url=am.url,
                              protocols=("icmp", "stamp"), service_path=False, poll_s=0.5,
                              flush_interval_s=0.25)  # fmt: skip
        url = add_api(config, "127.0.0.1", free_port(), tmp / "tokens", "harness")
        subprocess.run([*CABLEWATCH, "db", "init", "--config", str(config)], check=True,
                       capture_output=True)  # fmt: skip
        api = httpx.Client(base_url=url, headers={"Authorization": "Bearer harness"}, timeout=5)
        log = tmp / "serve.log"
        listen = f"127.0.0.1:{free_port()}"
        with agents(state, config, tmp, listen_port=None), \
                evaluator(config, log, listen, command="serve") as serve:  # fmt: skip
            wait_http(f"{url}/healthz", (200,), serve, log)
            t0 = started = time.monotonic()
            manager.reroute_return(opts, region, back)
            try:
                out = _cut(opts, am.url, api, region, back, hold_s, t0)
            finally:
                manager.restore(opts, back)
                manager.reroute_return(opts, region, None)
            if shift is not None:
                watch_alerts(am.url, lambda a: not [x for x in a if x["labels"]["alertname"]
                                                    not in INFO_ALERTS], 60)  # fmt: skip
                # the shift detector learns a path's baseline from its first 60 answered
                # rounds: the step comes after them (and after 10 more)
                time.sleep(max(0.0, started + 70 - time.monotonic()))
                out.shift_s, out.shift_summary = _shift(opts, am.url, shift, shift_ms)
    api.close()
    return out


def _cut(opts: manager.LabOptions, am_url: str, api: httpx.Client, region: str, back: str,
         hold_s: float, t0: float) -> ReturnCut:  # fmt: skip
    everything = describe(region, {c: back for c in CABLES if c != back})

    def asymmetric(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The region's asymmetric-return alert once it names every path coming back."""
        return [a for a in alerts if a["labels"]["alertname"] == "CablewatchAsymmetricReturn"
                and a["annotations"]["summary"] == everything]  # fmt: skip

    history = watch_alerts(am_url, lambda a: bool(asymmetric(a)), 60)
    out = ReturnCut(region, back, asymmetric(history[-1][1])[0]["annotations"]["summary"],
                    history[-1][0] - t0)  # fmt: skip
    deadline = time.monotonic() + 60  # every region's first choice (it waits for rounds)
    while region not in (before := _recommendations(api)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no recommendation for {region} within 60 s")
        time.sleep(0.2)
    out.before = before
    manager.set_links(opts, back, None, {"cut": True})
    cut = time.monotonic()
    seen: dict[float, None] = {}

    def done(alerts: list[dict[str, Any]]) -> bool:
        for a in alerts:
            name = a["labels"]["alertname"]
            if name not in INFO_ALERTS:
                out.faults[(name, a["labels"].get("subject", ""))] = a["annotations"]["summary"]
                if a["labels"].get("cable") == back and out.detect_s is None:
                    out.detect_s = time.monotonic() - cut
                    seen[time.monotonic()] = None
        return bool(seen) and time.monotonic() - min(seen) >= hold_s

    watch_alerts(am_url, done, 60)
    out.after = _recommendations(api)
    return out


def _shift(opts: manager.LabOptions, am_url: str, path: tuple[str, str],
           step_ms: float) -> tuple[float, str]:  # fmt: skip
    """A +``step_ms`` step on ``path`` (half each way): seconds to its shift alert, summary."""
    manager.set_links(opts, path[1], path[0], {"add_delay_ms": step_ms / 2})
    t0 = time.monotonic()
    subject = f"{path[0]}/{path[1]}"

    def found(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [a for a in alerts if a["labels"]["alertname"] == "CablewatchBaselineShift"
                and a["labels"].get("subject") == subject]  # fmt: skip

    try:
        history = watch_alerts(am_url, lambda a: bool(found(a)), 120)
    finally:
        manager.restore(opts, path[1])
    return history[-1][0] - t0, found(history[-1][1])[0]["annotations"]["summary"]
