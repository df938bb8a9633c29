"""The closed loop in the lab: agents (ICMP every 0.2 s) -> InfluxDB -> `cablewatch serve`
(evaluator, failover, gateway API) -> a gateway stand-in in every region's namespace, which
moves the region's route to the service address onto the recommended cable and measures the
time to first token of the station's streaming API through it.

Phases: a noisy baseline (5 ms jitter, 0.5 % loss on every cable, 40 s) must not move anyone;
an ADC cut must move every region on ADC exactly once, back under its SLA within 10 s; the
restore must not move anyone back (hold-down).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import cablewatch_cmd
from lab_helpers import CABLES, Lab
from waiting import wait_until

from cablewatch.lab.stack import agent_config, agents, free_port, influxd
from cablewatch.topology import load

pytestmark = pytest.mark.netns

RECOVER_S = 10.0


@dataclass
class Loop:
    records: dict[str, list[dict[str, Any]]]
    noise: tuple[float, float]
    cut: float
    restore: float
    end: float
    on_adc: list[str]
    objective_ms: dict[str, float]


def read(out: Path) -> dict[str, list[dict[str, Any]]]:
    return {f.stem: [json.loads(ln) for ln in f.read_text().splitlines()]
            for f in out.glob("*.jsonl")}  # fmt: skip


def cable_at(records: list[dict[str, Any]], t: float) -> str:
    cable = ""
    for r in records:
        if r["kind"] in ("start", "switch") and r["t"] <= t:
            cable = r.get("to") or r["cable"]
    return cable


@pytest.fixture(scope="module")
def loop(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Loop:
    tmp = tmp_path_factory.mktemp("loop")
    state_file = lab.state_dir / "lab.json"
    state = json.loads(state_file.read_text())
    host = state["mgmt_host_addr"].split("/")[0]
    out = tmp / "standins"
    out.mkdir()
    with influxd(tmp / "influx", host=host) as influx:
        config = agent_config(tmp / "cw.toml", influx.url, interval_s=0.2,
                              packet_interval_s=0.01, timeout_s=0.15, icmp_only=True,
                              poll_s=0.25)  # fmt: skip
        port = free_port(host)
        (tmp / "tokens").write_text("standin-token\n")
        text = config.read_text().replace("dwell_s = 60.0", "dwell_s = 10.0")
        text = text.replace("holddown_s = 300.0", "holddown_s = 60.0")
        text += f'[api]\nlisten_host = "{host}"\nlisten_port = {port}\n'
        text += f'tokens_file = "{tmp / "tokens"}"\n'
        config.write_text(text)
        topo = load(config)
        subprocess.run(cablewatch_cmd("db", "init", "--config", str(config)), check=True,
                       capture_output=True)  # fmt: skip
        serve_log = (tmp / "serve.log").open("wb")
        serve = subprocess.Popen(cablewatch_cmd("serve", "--config", str(config), "--listen",
                                                f"127.0.0.1:{free_port()}"),
                                 stdout=serve_log, stderr=subprocess.STDOUT)  # fmt: skip
        standins = []
        try:
            with agents(state, config, tmp, listen_port=None):
                for region, ns in state["region_ns"].items():
                    cmd = ["ip", "netns", "exec", ns, sys.executable, "-m",
                           "cablewatch.lab.standin", "--region", region, "--api",
                           f"http://{host}:{port}", "--token-file", str(tmp / "tokens"),
                           "--state", str(state_file), "--out", str(out / f"{region}.jsonl"),
                           "--poll-s", "0.25", "--probe-s", "0.25"]  # fmt: skip
                    standins.append(subprocess.Popen(cmd, stderr=subprocess.DEVNULL))

                def adopted() -> bool:
                    recs = read(out)
                    return len(recs) == 9 and all(
                        any(r["kind"] == "switch" for r in rs) for rs in recs.values()
                    )

                wait_until(adopted, 60, "every stand-in following a recommendation")
                for cable in CABLES:
                    lab.run("degrade", cable, "--jitter-ms", "5", "--loss-pct", "0.5")
                noise_start = time.time()
                time.sleep(40)  # the noisy baseline: what must NOT happen has no event to await
                lab.run("restore")
                noise_end = time.time()
                time.sleep(5)
                cut = time.time()
                on_adc = [r for r, rs in read(out).items() if cable_at(rs, cut) == "ADC"]
                lab.run("cut", "ADC")

                def moved() -> bool:
                    recs = read(out)
                    return all(cable_at(recs[r], time.time()) != "ADC" for r in on_adc)

                wait_until(moved, 30, "every region off ADC")
                time.sleep(RECOVER_S)
                restore = time.time()
                lab.run("restore", "ADC")
                time.sleep(15)  # within the 60 s hold-down: nobody may move back
                end = time.time()
        finally:
            for p in standins:
                p.terminate()
            for p in standins:
                p.wait(10)
            serve.terminate()
            serve.wait(30)
            serve_log.close()
            lab.run("restore")
    objective = {r: min((p.rtt_p95_ms for p in topo.slas if r in p.regions), default=1e9)
                 for r in state["region_ns"]}  # fmt: skip
    return Loop(read(out), (noise_start, noise_end), cut, restore, end, on_adc, objective)


def switches(loop: Loop, region: str, start: float, end: float) -> list[dict[str, Any]]:
    return [
        r
        for r in loop.records[region]
        if r["kind"] == "switch" and start <= r["t"] < end and r["rec_kind"] != "initial"
    ]


def test_no_switch_during_the_noisy_baseline(loop: Loop) -> None:
    for region in loop.records:
        assert switches(loop, region, *loop.noise) == [], region


def test_cut_moves_each_affected_region_once_and_back_under_sla(loop: Loop) -> None:
    assert len(loop.on_adc) >= 2, loop.on_adc  # e.g. bangkok, ho-chi-minh-city, kuala-lumpur
    rows = []
    for region in loop.on_adc:
        moves = switches(loop, region, loop.cut, loop.end)
        assert len(moves) == 1, (region, moves)  # at most one switch per region per event
        move = moves[0]
        assert move["from"] == "ADC"
        assert move["rec_kind"] == "fault"
        ttft = [r for r in loop.records[region] if r["kind"] == "ttft"]
        before = [r["ttft_ms"] for r in ttft if loop.cut - 10 <= r["t"] < loop.cut and r["ok"]]
        back = next(r for r in ttft if r["t"] > move["t"] and r["ok"]
                    and r["connect_ms"] <= loop.objective_ms[region])  # fmt: skip
        after = [r["ttft_ms"] for r in ttft if back["t"] <= r["t"] < loop.restore and r["ok"]]
        recovered_s = back["t"] - loop.cut
        rows.append((region, move["to"], recovered_s, statistics.median(before),
                     statistics.median(after)))  # fmt: skip
        assert recovered_s <= RECOVER_S, (region, recovered_s)
        assert before
        assert after
    for region, to, took, before_ms, after_ms in rows:
        print(f"{region:18} ADC -> {to:7} back under SLA after {took:.2f} s; "
              f"TTFT median {before_ms:.1f} ms -> {after_ms:.1f} ms")  # fmt: skip


def test_regions_elsewhere_do_not_move(loop: Loop) -> None:
    for region in loop.records:
        if region not in loop.on_adc:
            assert switches(loop, region, loop.cut, loop.end) == [], region


def test_restore_does_not_pull_traffic_back_within_holddown(loop: Loop) -> None:
    for region in loop.records:
        assert switches(loop, region, loop.restore, loop.end) == [], region
