"""Fault detection end to end in the lab, with the whole stack: agents in every region (ICMP
every 0.2 s) -> InfluxDB -> `cablewatch serve` (evaluator, failover, gateway API) ->
Alertmanager's v2 API.

One run, in phases; every alert Alertmanager holds, and the API's recommendations and cable
states, recorded every 0.2 s:
1. noisy baseline: 5 ms jitter and 0.5 % loss on every cable, until each of the 27 paths has
   made at least 450 rounds (7.5 minutes of rounds at the default 1 s, 5x faster here;
   bench/detection.py runs 600 s of it);
2. a minority of ADC's regions degraded (50 % loss for Jakarta, joining at Tuas, and Bangkok,
   at Sriracha; the other seven fine), then restored;
3. every region joining ADC at Tuas degraded (a segment), then restored;
4. 30 % loss on Tokyo over SJC for 200 rounds (200 s of rounds at 1 s; bench/detection.py:
   180 s), then restored;
5. ADC cut (all regions), then restored;
6. SJC +30 ms each way for Jakarta only, then restored.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from conftest import cablewatch_cmd
from lab_helpers import CABLES, Lab
from pipeline_helpers import judged_against_stored

from cablewatch.harness.stack import (
    Server,
    active_alerts,
    add_api,
    agent_config,
    agents,
    alertmanager,
    evaluator,
    free_port,
    influxd,
    wait_http,
)

pytestmark = [pytest.mark.netns, pytest.mark.servers]

NOISE_ROUNDS = 450
LOSSY_ROUNDS = 200
TOKEN = "lab-token"
Check = Callable[[list[dict[str, Any]]], bool]


@dataclass
class Seen:
    t: float
    alerts: list[dict[str, Any]]
    cables: dict[str, str]
    """cable -> the API's status."""
    recommended: dict[str, str]
    """region -> recommended cable."""
    kinds: dict[str, str]


@dataclass
class Phase:
    name: str
    start: float = 0.0
    seen: list[Seen] = field(default_factory=list)

    def first(self, predicate: Callable[[dict[str, Any]], bool]) -> float | None:
        for s in self.seen:
            if any(predicate(a) for a in s.alerts):
                return s.t
        return None

    def distinct(self) -> set[tuple[str, str]]:
        return {(a["labels"]["alertname"], a["labels"]["subject"]) for s in self.seen
                for a in s.alerts}  # fmt: skip

    def raises(self) -> set[str]:
        """Every alert identity (event) that was active at some point."""
        return {a["annotations"]["event_id"] for s in self.seen for a in s.alerts}


@dataclass
class Run:
    phases: dict[str, Phase]
    noise_rounds: dict[tuple[str, str], int]
    events: list[dict[str, Any]]
    log: str
    judged: int
    """Rounds the evaluator's detection took ..."""
    misjudged: list[str]
    """... and those it judged with other counts than InfluxDB holds."""


class Watcher:
    def __init__(self, am: Server, api: httpx.Client) -> None:
        self.am = am
        self.api = api

    def look(self) -> Seen:
        recs = self.api.get("/v1/recommendations").json()["recommendations"]
        cables = self.api.get("/v1/cables").json()["cables"]
        return Seen(time.monotonic(), active_alerts(self.am.url),
                    {c["cable"]: c["status"] for c in cables},
                    {r["region"]: r["cable"] for r in recs},
                    {r["region"]: r["kind"] for r in recs})  # fmt: skip

    def watch(self, phase: Phase, until: Callable[[Seen], bool], timeout_s: float,
              every_s: float = 0.2) -> None:  # fmt: skip
        """Record every ``every_s`` until ``until(latest)`` holds."""
        deadline = time.monotonic() + timeout_s
        while True:
            seen = self.look()
            phase.seen.append(seen)
            if until(seen):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{phase.name}: timed out; last: {seen}")
            time.sleep(every_s)


def rounds_per_path(url: str, since_ns: int) -> dict[tuple[str, str], int]:
    q = (f'SELECT count("packets_transmitted") FROM "ping" WHERE time >= {since_ns} '
         'GROUP BY "region", "cable"')  # fmt: skip
    data = httpx.post(f"{url}/query", data={"db": "cw", "q": q}, timeout=10).json()
    return {(s["tags"]["region"], s["tags"]["cable"]): s["values"][0][1]
            for s in data["results"][0].get("series", [])}  # fmt: skip


def quiet(seen: Seen) -> bool:
    return seen.alerts == []


@pytest.fixture(scope="module")
def run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("alerting")
    state = json.loads((lab.state_dir / "lab.json").read_text())
    host = state["mgmt_host_addr"].split("/")[0]
    names = ("noise", "minority", "minority-restore", "segment", "segment-restore", "lossy",
             "lossy-restore", "cut", "restore", "degrade", "undegrade")  # fmt: skip
    phases = {n: Phase(n) for n in names}
    with influxd(tmp / "influx", host=host) as influx, alertmanager(tmp / "am") as am:
        config = agent_config(tmp / "cw.toml", influx.url, alertmanager_url=am.url,
                              interval_s=0.2, packet_interval_s=0.01, timeout_s=0.15,
                              icmp_only=True, poll_s=0.5,
                              record_inputs=tmp / "judged.jsonl")  # fmt: skip
        api = add_api(config, "127.0.0.1", free_port(), tmp / "tokens", TOKEN)
        subprocess.run(cablewatch_cmd("db", "init", "--config", str(config)), check=True,
                       capture_output=True)  # fmt: skip
        for cable in CABLES:
            lab.run("degrade", cable, "--jitter-ms", "5", "--loss-pct", "0.5")
        log = tmp / "serve.log"
        noise = ["--jitter-ms", "5", "--loss-pct", "0.5"]
        listen = f"127.0.0.1:{free_port()}"
        try:
            with contextlib.ExitStack() as stack, agents(state, config, tmp, listen_port=None), \
                    evaluator(config, log, listen, command="serve") as serve:  # fmt: skip
                wait_http(f"{api}/healthz", (200,), serve, log)
                client = stack.enter_context(
                    httpx.Client(
                        base_url=api, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
                    )
                )
                w = Watcher(am, client)
                since = time.time_ns()

                def enough_noise(_seen: Seen) -> bool:
                    counts = rounds_per_path(influx.url, since)
                    return len(counts) == 27 and min(counts.values()) >= NOISE_ROUNDS

                phases["noise"].start = time.monotonic()
                # every second: the stack shares 2 cores with the lab, keep the watching light
                w.watch(phases["noise"], enough_noise, 400, every_s=1.0)
                noise_rounds = rounds_per_path(influx.url, since)

                def phase(name: str, until: Callable[[Seen], bool], timeout_s: float,
                          *change: str) -> None:  # fmt: skip
                    phases[name].start = time.monotonic()
                    for args in change:
                        lab.run(*args.split())
                    w.watch(phases[name], until, timeout_s)

                def after(name: str, seconds: float) -> Callable[[Seen], bool]:
                    return lambda _s: time.monotonic() - phases[name].start > seconds

                phase("minority", after("minority", 12), 20,
                      "degrade ADC --region jakarta --loss-pct 50",
                      "degrade ADC --region bangkok --loss-pct 50")  # fmt: skip
                phase("minority-restore", quiet, 30, "restore ADC",
                      f"degrade ADC {' '.join(noise)}")  # fmt: skip
                phase(
                    "segment",
                    after("segment", 12),
                    20,
                    "degrade ADC --landing-point Tuas --loss-pct 50",
                )
                phase("segment-restore", quiet, 30, "restore ADC",
                      f"degrade ADC {' '.join(noise)}")  # fmt: skip
                lossy_since = time.time_ns()

                def lossy_done(_s: Seen) -> bool:
                    return rounds_per_path(influx.url, lossy_since).get(
                        ("tokyo", "SJC"), 0) >= LOSSY_ROUNDS  # fmt: skip

                phase("lossy", lossy_done, 240, "degrade SJC --region tokyo --loss-pct 30")
                phase("lossy-restore", quiet, 30, f"degrade SJC --region tokyo {' '.join(noise)}")
                phase("cut", after("cut", 12), 20, "cut ADC")
                phase("restore", quiet, 30, "restore ADC", f"degrade ADC {' '.join(noise)}")
                phase(
                    "degrade",
                    after("degrade", 12),
                    20,
                    "degrade SJC --region jakarta --add-delay-ms 30",
                )
                phase("undegrade", quiet, 30, "restore SJC", f"degrade SJC {' '.join(noise)}")
        finally:
            lab.run("restore")
        q = 'SELECT "state", "paths", "regions", "duration_s", "evidence" FROM "event" GROUP BY *'
        data = httpx.post(f"{influx.url}/query", data={"db": "cw", "q": q}, timeout=10).json()
        events = [
            dict(zip(s["columns"], v, strict=True)) | s["tags"]
            for s in data["results"][0].get("series", [])
            for v in s["values"]
        ]
        judged, misjudged = judged_against_stored(tmp / "judged.jsonl", influx.url, "cw")
        yield Run(phases, noise_rounds, events, log.read_text(), judged, misjudged)


def test_every_round_judged_is_the_round_stored(run: Run) -> None:
    """What detection judged is what InfluxDB holds: a round read while its write was in
    progress (some fields visible, not yet others) once counted as all lost, and moved brunei
    off SJC during the minority phase."""
    assert run.judged >= 27 * NOISE_ROUNDS
    assert run.misjudged == [], f"{len(run.misjudged)} of {run.judged}: {run.misjudged[:5]}"


def test_noisy_baseline_raises_nothing_and_moves_nothing(run: Run) -> None:
    assert min(run.noise_rounds.values()) >= NOISE_ROUNDS
    assert len(run.noise_rounds) == 27
    noise = run.phases["noise"]
    assert noise.distinct() == set()
    last = noise.seen[-1]
    assert set(last.recommended) == {
        "singapore",
        "jakarta",
        "kuala-lumpur",
        "bangkok",
        "ho-chi-minh-city",
        "manila",
        "hong-kong",
        "tokyo",
        "brunei",
    }
    assert set(last.kinds.values()) == {"initial"}  # no switch in 450 rounds of noise


def test_a_minority_degradation_is_one_partial_warning_for_its_customers(run: Run) -> None:
    phase = run.phases["minority"]
    assert phase.distinct() == {("CablewatchCablePartialFault", "ADC")}
    assert max(len(s.alerts) for s in phase.seen) == 1
    [alert] = phase.seen[-1].alerts
    labels = alert["labels"]
    assert (labels["severity"], labels["scope"]) == ("warning", "partial")
    assert labels["customers"] == "sea-retail"  # Jakarta and Bangkok; not north-asia-fintech
    evidence = json.loads(alert["annotations"]["description"])
    assert (evidence["regions_affected"], evidence["regions_healthy"]) == (2, 7)
    assert {s.cables["ADC"] for s in phase.seen} <= {"ok", "degraded"}  # never "down"
    assert phase.seen[-1].cables["ADC"] == "degraded"
    before, after = run.phases["noise"].seen[-1].recommended, phase.seen[-1].recommended
    moved = {r for r in before if before[r] != after[r]}
    assert moved == {r for r in ("jakarta", "bangkok") if before[r] == "ADC"}
    # Bangkok starts on ADC (37.7 ms against 47.9 over APCN-2); Jakarta's ADC and APCN-2 are
    # within 1 ms of each other, so either may carry it at the start: only the rule above holds
    assert "bangkok" in moved
    assert run.phases["minority-restore"].seen[-1].alerts == []


def test_a_whole_landing_point_is_one_segment_event(run: Run) -> None:
    phase = run.phases["segment"]
    assert phase.distinct() == {("CablewatchSegmentFault", "ADC Tuas-Shantou")}
    assert max(len(s.alerts) for s in phase.seen) == 1
    [alert] = phase.seen[-1].alerts
    evidence = json.loads(alert["annotations"]["description"])
    assert sorted(p.split("/")[0] for p in evidence["paths"]) == [
        "brunei", "jakarta", "kuala-lumpur", "singapore"
    ]  # fmt: skip
    assert (evidence["regions_affected"], evidence["regions_healthy"]) == (4, 5)
    assert run.phases["segment-restore"].seen[-1].alerts == []


def test_sustained_30_percent_loss_is_one_alert_and_one_resolution(run: Run) -> None:
    phase = run.phases["lossy"]
    assert phase.distinct() == {("CablewatchPathFault", "tokyo/SJC")}
    assert len(phase.raises()) == 1  # one event for the whole time
    first = next(i for i, s in enumerate(phase.seen) if s.alerts)
    assert all(s.alerts for s in phase.seen[first:])  # never resolved in between: no flap
    # budget: ~5 rounds of 30 % loss for the loss test (1 s at 0.2 s rounds), a 0.5 s poll, a
    # 0.2 s look; measured 4.7 s on 2 cores beside a lab benchmark (bench/detection: 10.5 s at
    # 1 s rounds)
    print(f"30 % loss -> alert: {phase.seen[first].t - phase.start:.2f} s")
    assert phase.seen[first].t - phase.start <= 10.0
    restore = run.phases["lossy-restore"]
    assert restore.seen[-1].alerts == []
    assert restore.raises() <= phase.raises()
    lossy = [e for e in run.events if e["subject"] == "tokyo/SJC"]
    assert len(lossy) == 1
    assert lossy[0]["state"] == "resolved"


def test_cut_raises_one_critical_cable_alert_within_seconds(run: Run) -> None:
    cut = run.phases["cut"]
    assert cut.distinct() == {("CablewatchCableFault", "ADC")}  # not one per region
    assert max(len(s.alerts) for s in cut.seen) == 1  # one identity while it grows
    first = cut.first(lambda a: a["labels"]["subject"] == "ADC")
    assert first is not None
    # budget: one round (0.2 s) lost everywhere turns the cable bad at once (multi-vantage), a
    # 0.25 s flush, a 0.5 s poll, Alertmanager's answer, a 0.2 s look; measured 2.0 s beside a
    # lab benchmark (bench/detection at 1 s rounds: 1.95 s median)
    print(f"cut -> alert in Alertmanager: {first - cut.start:.2f} s")
    assert first - cut.start <= 5.0, first - cut.start
    [alert] = cut.seen[-1].alerts
    assert (alert["labels"]["severity"], alert["labels"]["scope"]) == ("critical", "cable")
    assert alert["labels"]["customers"] == "north-asia-fintech,sea-retail"
    evidence = json.loads(alert["annotations"]["description"])
    assert len(evidence["paths"]) == 9
    assert cut.seen[-1].cables["ADC"] == "down"


def test_restore_resolves(run: Run) -> None:
    restore = run.phases["restore"]
    assert restore.seen[-1].alerts == []
    # budget: 26 good packets for the loss test (6 rounds: 1.2 s), a poll, the resolution's
    # post; measured 3.0 s beside a lab benchmark
    print(f"restore -> resolved: {restore.seen[-1].t - restore.start:.2f} s")
    assert restore.seen[-1].t - restore.start <= 10.0
    assert restore.distinct() <= {("CablewatchCableFault", "ADC")}


def test_degrading_one_path_raises_only_a_path_alert(run: Run) -> None:
    degrade = run.phases["degrade"]
    assert degrade.distinct() == {("CablewatchPathFault", "jakarta/SJC")}
    assert max(len(s.alerts) for s in degrade.seen) == 1
    alert = degrade.seen[-1].alerts[0]
    evidence = json.loads(alert["annotations"]["description"])["paths"]["jakarta/SJC"]
    assert "step" in evidence["reasons"]
    assert evidence["median_ms"] - evidence["baseline_ms"] >= 50  # +60 ms round trip
    assert run.phases["undegrade"].seen[-1].alerts == []


def test_events_are_stored_with_start_end_scope_and_evidence(run: Run) -> None:
    stored = {(e["scope"], e["subject"]) for e in run.events}
    assert stored == {
        ("partial", "ADC"),
        ("segment", "ADC Tuas-Shantou"),
        ("path", "tokyo/SJC"),
        ("cable", "ADC"),
        ("path", "jakarta/SJC"),
    }
    assert all(e["state"] == "resolved" for e in run.events)
    adc = next(e for e in run.events if e["scope"] == "cable")
    assert adc["paths"] == 9
    # the cut lasts 12 s of the watcher's time; the event runs from the first bad round to the
    # first good verdict (less detection, plus resolution: measured 14.4 s)
    print(f"cut event duration: {adc['duration_s']:.1f} s")
    assert 8 <= adc["duration_s"] <= 25
    assert "raised cable ADC" in run.log
    assert "resolved path jakarta/SJC" in run.log
