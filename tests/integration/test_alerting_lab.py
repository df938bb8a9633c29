"""Fault detection end to end in the lab, with a real Alertmanager: agents in every region
(ICMP every 0.2 s) -> InfluxDB -> `cablewatch evaluate` -> Alertmanager's v2 API.

One run, in phases, every alert Alertmanager holds recorded every 0.2 s:
1. noisy baseline: 5 ms jitter and 0.5 % loss on every cable, until each of the 27 paths has
   made at least 600 rounds;
2. ADC cut (all regions), then restored;
3. SJC degraded (+30 ms each way) for Jakarta only, then restored.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from conftest import cablewatch_cmd
from lab_helpers import CABLES, Lab

from cablewatch.lab.stack import (
    Server,
    agent_config,
    agents,
    alertmanager,
    evaluator,
    free_port,
    influxd,
    watch_alerts,
)

pytestmark = pytest.mark.netns

NOISE_ROUNDS = 600


@dataclass
class Phase:
    name: str
    start: float = 0.0
    end: float = 0.0
    seen: list[tuple[float, list[dict[str, Any]]]] = field(default_factory=list)
    """(monotonic time, active alerts) every poll."""

    def first(self, predicate: Any) -> float | None:
        for t, alerts in self.seen:
            if any(predicate(a) for a in alerts):
                return t
        return None

    def distinct(self) -> set[tuple[str, str]]:
        return {(a["labels"]["alertname"], a["labels"]["subject"]) for _t, al in self.seen
                for a in al}  # fmt: skip


@dataclass
class Run:
    phases: dict[str, Phase]
    noise_rounds: dict[tuple[str, str], int]
    events: list[dict[str, Any]]
    log: str


def watch(am: Server, phase: Phase, until: Any, timeout_s: float) -> None:
    """Record Alertmanager's active alerts every 0.2 s until ``until(alerts)`` is true."""
    phase.seen += watch_alerts(am.url, until, timeout_s, poll_s=0.2)


def rounds_per_path(url: str, since_ns: int) -> dict[tuple[str, str], int]:
    q = (f'SELECT count("packets_transmitted") FROM "ping" WHERE time >= {since_ns} '
         'GROUP BY "region", "cable"')  # fmt: skip
    data = httpx.post(f"{url}/query", data={"db": "cw", "q": q}, timeout=10).json()
    return {(s["tags"]["region"], s["tags"]["cable"]): s["values"][0][1]
            for s in data["results"][0].get("series", [])}  # fmt: skip


@pytest.fixture(scope="module")
def run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("alerting")
    state = json.loads((lab.state_dir / "lab.json").read_text())
    host = state["mgmt_host_addr"].split("/")[0]
    phases = {n: Phase(n) for n in ("noise", "cut", "restore", "degrade", "undegrade")}
    with influxd(tmp / "influx", host=host) as influx, alertmanager(tmp / "am") as am:
        config = agent_config(tmp / "cw.toml", influx.url, alertmanager_url=am.url,
                              interval_s=0.2, packet_interval_s=0.01, timeout_s=0.15,
                              icmp_only=True, poll_s=0.5)  # fmt: skip
        subprocess.run(cablewatch_cmd("db", "init", "--config", str(config)), check=True,
                       capture_output=True)  # fmt: skip
        for cable in CABLES:
            lab.run("degrade", cable, "--jitter-ms", "5", "--loss-pct", "0.5")
        log = tmp / "evaluate.log"
        try:
            with agents(state, config, tmp, listen_port=None), \
                    evaluator(config, log, f"127.0.0.1:{free_port()}"):  # fmt: skip
                noise = phases["noise"]
                noise.start = time.monotonic()
                since = time.time_ns()

                def enough_noise(_alerts: object) -> bool:
                    counts = rounds_per_path(influx.url, since)
                    return len(counts) == 27 and min(counts.values()) >= NOISE_ROUNDS

                watch(am, noise, enough_noise, 300)
                noise.end = time.monotonic()
                noise_rounds = rounds_per_path(influx.url, since)

                cut = phases["cut"]
                cut.start = time.monotonic()
                lab.run("cut", "ADC")
                watch(am, cut, lambda a: time.monotonic() - cut.start > 12, 20)
                restore = phases["restore"]
                restore.start = time.monotonic()
                lab.run("restore", "ADC")
                watch(am, restore, lambda a: a == [], 30)

                degrade = phases["degrade"]
                degrade.start = time.monotonic()
                lab.run("degrade", "SJC", "--region", "jakarta", "--add-delay-ms", "30")
                watch(am, degrade, lambda a: time.monotonic() - degrade.start > 12, 20)
                undegrade = phases["undegrade"]
                undegrade.start = time.monotonic()
                lab.run("restore", "SJC")
                watch(am, undegrade, lambda a: a == [], 30)
        finally:
            lab.run("restore")
        q = (
            'SELECT "state", "paths", "regions", "duration_s" FROM "event" '
            'GROUP BY "scope", "subject"'
        )
        data = httpx.post(f"{influx.url}/query", data={"db": "cw", "q": q}, timeout=10).json()
        events = [
            dict(zip(s["columns"], v, strict=True)) | s["tags"]
            for s in data["results"][0].get("series", [])
            for v in s["values"]
        ]
        yield Run(phases, noise_rounds, events, log.read_text())


def test_noisy_baseline_raises_nothing(run: Run) -> None:
    assert min(run.noise_rounds.values()) >= NOISE_ROUNDS
    assert len(run.noise_rounds) == 27
    assert run.phases["noise"].distinct() == set()


def test_cut_raises_one_cable_alert_within_seconds(run: Run) -> None:
    cut = run.phases["cut"]
    assert cut.distinct() == {("CablewatchCableFault", "ADC")}  # not one per region
    assert max(len(alerts) for _t, alerts in cut.seen) == 1  # one identity while it grows
    first = cut.first(lambda a: a["labels"]["subject"] == "ADC")
    assert first is not None
    assert first - cut.start <= 5.0, first - cut.start
    print(f"cut -> alert in Alertmanager: {first - cut.start:.2f} s")
    [alert] = cut.seen[-1][1]
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["scope"] == "cable"
    evidence = json.loads(alert["annotations"]["description"])
    assert len(evidence["paths"]) == 9


def test_restore_resolves(run: Run) -> None:
    restore = run.phases["restore"]
    assert restore.seen[-1][1] == []
    assert restore.seen[-1][0] - restore.start <= 10.0  # 3 good rounds + pipeline
    assert restore.distinct() <= {("CablewatchCableFault", "ADC")}


def test_degrading_one_path_raises_only_a_path_alert(run: Run) -> None:
    degrade = run.phases["degrade"]
    assert degrade.distinct() == {("CablewatchPathFault", "jakarta/SJC")}
    assert max(len(alerts) for _t, alerts in degrade.seen) == 1
    alert = degrade.seen[-1][1][0]
    evidence = json.loads(alert["annotations"]["description"])["paths"]["jakarta/SJC"]
    assert "step" in evidence["reasons"]
    assert evidence["median_ms"] - evidence["baseline_ms"] >= 50  # +60 ms round trip
    assert run.phases["undegrade"].seen[-1][1] == []


def test_events_are_stored_with_start_end_scope_and_evidence(run: Run) -> None:
    resolved = {(e["scope"], e["subject"]): e for e in run.events}
    assert set(resolved) == {("cable", "ADC"), ("path", "jakarta/SJC")}
    adc = resolved[("cable", "ADC")]
    assert adc["state"] == "resolved"
    assert adc["paths"] == 9
    assert 8 <= adc["duration_s"] <= 25
    assert resolved[("path", "jakarta/SJC")]["state"] == "resolved"
    assert "raised cable ADC" in run.log
    assert "resolved path jakarta/SJC" in run.log
