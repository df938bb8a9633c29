"""High availability in the lab: the closed loop (harness/loop.py) with two of everything central
that can die, and one of each killed during a cable cut.

- Two ``cablewatch serve`` instances (A and B) on the same InfluxDB, each posting its alerts
  to both Alertmanager replicas; every gateway stand-in asks A, and B when A does not answer.
- Two Alertmanager replicas in a gossip cluster (harness/stack.py), each delivering to its own
  path of one webhook receiver (``/am-0``, ``/am-1``), so that who notified is known.

Then: ADC cut; A is killed (SIGKILL) at once; the stand-ins on ADC must still move off it, now
on B's word. When the cable alert's notification arrives, the replica that sent it is killed
too, once the other had time to learn of it (a replica waits ``PEER_TIMEOUT_S`` per position
before notifying, and would notify again if it had not). ADC restored: the resolution must
come from the surviving replica. The receiver is watched ``QUIET_S`` more for duplicates.

Shared by the HA test and bench/ha.py.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cablewatch.harness.loop import on_cable, read_records, standin_command, wait_for
from cablewatch.harness.receiver import Post, Received, webhook_receiver
from cablewatch.harness.stack import (
    CABLEWATCH,
    add_api,
    agent_config,
    agents,
    alertmanager_cluster,
    free_port,
    influxd,
    stopping,
    wait_http,
)
from cablewatch.lab import manager

__all__ = ["PEER_TIMEOUT_S", "QUIET_S", "HaRun", "cable_notifications", "ha_run"]

PEER_TIMEOUT_S = 2.0
QUIET_S = 8.0
TOKEN = "standin-token"


@dataclass
class HaRun:
    records: dict[str, list[dict[str, Any]]]
    """Per region: the stand-in's records, in time order."""
    posts: list[Post]
    """Every notification the webhook receiver got."""
    cut: float
    restore: float
    end: float
    on_cut_cable: list[str]
    apis: tuple[str, str]
    """A's and B's base URLs."""
    serve_killed: float
    am_killed: int
    """Which replica was killed: the one that sent the cable alert's notification."""
    am_killed_at: float
    serve_logs: tuple[Path, Path]
    choices: dict[str, tuple[str, str]]
    """Per region, A's and B's recommended cable just before the cut."""


def cable_notifications(posts: list[Post], cable: str) -> list[tuple[str, str, float]]:
    """(status, receiver path, arrival) of every notification about ``cable``'s cable alert."""
    out = []
    for p in posts:
        body = json.loads(p.body)
        if any(a["labels"].get("alertname") == "CablewatchCableFault"
               and a["labels"].get("cable") == cable for a in body["alerts"]):  # fmt: skip
            out.append((body["status"], p.path, p.t))
    return out


def _am_config(path: Path, port: int, replica: int) -> Path:
    path.write_text(
        "route:\n  receiver: hook\n  group_by: [alertname, scope, subject]\n"
        "  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\n"
        "receivers:\n  - name: hook\n    webhook_configs:\n"
        f"      - url: http://127.0.0.1:{port}/am-{replica}\n        send_resolved: true\n"
    )
    return path


def ha_run(
    opts: manager.LabOptions,
    tmp: Path,
    *,
    cable: str = "ADC",
    say: Callable[[str], None] = lambda _text: None,
) -> HaRun:
    state = manager.load_state(opts)
    host = state["mgmt_host_addr"].split("/")[0]
    out = tmp / "standins"
    out.mkdir(parents=True, exist_ok=True)
    received = Received()
    with contextlib.ExitStack() as stack:
        hook = stack.enter_context(webhook_receiver(received))
        configs = [_am_config(tmp / f"am-{i}.yml", hook, i) for i in range(2)]
        ams = stack.enter_context(
            alertmanager_cluster(tmp / "am", configs, peer_timeout_s=PEER_TIMEOUT_S)
        )
        influx = stack.enter_context(influxd(tmp / "influx", host=host))
        base = agent_config(tmp / "cw.toml", influx.url, alertmanager_url=[a.url for a in ams],
                            interval_s=0.2, packet_interval_s=0.01, timeout_s=0.15,
                            icmp_only=True, poll_s=0.25, flush_interval_s=0.2)  # fmt: skip
        text = base.read_text().replace("dwell_s = 60.0", "dwell_s = 10.0")
        base.write_text(text.replace("resend_s = 60.0", "resend_s = 5.0"))
        subprocess.run([*CABLEWATCH, "db", "init", "--config", str(base)], check=True,
                       capture_output=True)  # fmt: skip
        apis, procs, logs = [], [], []
        for name in ("a", "b"):
            config = tmp / f"serve-{name}.toml"
            config.write_text(base.read_text())
            apis.append(add_api(config, host, free_port(host), tmp / "tokens", TOKEN))
            log = tmp / f"serve-{name}.log"
            with log.open("wb") as f:
                procs.append(subprocess.Popen(
                    [*CABLEWATCH, "serve", "--config", str(config), "--listen",
                     f"127.0.0.1:{free_port()}"], stdout=f, stderr=subprocess.STDOUT))  # fmt: skip
            logs.append(log)
        stack.enter_context(stopping(procs))
        for api, proc, log in zip(apis, procs, logs, strict=True):
            wait_http(f"{api}/healthz", (200,), proc, log)
        stack.enter_context(agents(state, base, tmp, listen_port=None))
        standins = [subprocess.Popen(standin_command(state, opts, r, apis, tmp / "tokens", out),
                                     stderr=subprocess.DEVNULL)
                    for r in state["region_ns"]]  # fmt: skip
        stack.enter_context(stopping(standins))
        try:
            wait_for(lambda: len(r := read_records(out)) == 9 and all(
                any(x["kind"] == "switch" for x in rs) for rs in r.values()), 60,
                "every stand-in following a recommendation", procs[0], logs[0])  # fmt: skip
            say("two serve instances and two Alertmanager replicas up; every stand-in follows A")
            choices = _choices(apis)
            same = sum(a == b for a, b in choices.values())
            say(f"A and B recommend the same cable for {same} of {len(choices)} regions")
            cut = time.time()
            on_cut = on_cable(read_records(out), cable, cut)
            manager.set_links(opts, cable, None, {"cut": True})
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()
            serve_killed = time.time()
            say(f"{cable} cut; serve A killed; regions on {cable}: {', '.join(on_cut)}")
            wait_for(lambda: not on_cable(read_records(out), cable, time.time()), 60,
                     f"every region off {cable}", procs[1], logs[1])  # fmt: skip
            say(f"every region off {cable}, on B's recommendations")
            wait_for(lambda: cable_notifications(received.log, cable), 60,
                     f"the {cable} alert's notification", procs[1], logs[1])  # fmt: skip
            _status, path, when = cable_notifications(received.log, cable)[0]
            # the other replica notifies at PEER_TIMEOUT_S unless it learnt of this one: a
            # duplicate would show by then
            time.sleep(max(0.0, when + PEER_TIMEOUT_S + 2.0 - time.time()))
            killed = int(path.rsplit("-", 1)[1])
            ams[killed].proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
            ams[killed].proc.wait()  # type: ignore[union-attr]
            am_killed_at = time.time()
            say(f"the {cable} alert was notified by replica {killed}; replica {killed} killed")
            restore = time.time()
            manager.restore(opts, cable)
            wait_for(lambda: any(s == "resolved" for s, _p, _t in
                                 cable_notifications(received.log, cable)), 90,
                     f"the {cable} alert's resolution", procs[1], logs[1])  # fmt: skip
            say(f"{cable} restored; resolution received; watching {QUIET_S:.0f} s for duplicates")
            time.sleep(QUIET_S)  # what must NOT happen (a duplicate) has no event to await
            end = time.time()
        finally:
            manager.restore(opts, None)
    return HaRun(read_records(out), list(received.log), cut, restore, end, on_cut,
                 (apis[0], apis[1]), serve_killed, killed, am_killed_at,
                 (logs[0], logs[1]), choices)  # fmt: skip


def _choices(apis: list[str]) -> dict[str, tuple[str, str]]:
    """Each region's recommended cable from A and from B."""
    got = []
    for api in apis:
        body = httpx.get(f"{api}/v1/recommendations", timeout=5,
                         headers={"Authorization": f"Bearer {TOKEN}"}).json()  # fmt: skip
        got.append({r["region"]: r["cable"] for r in body["recommendations"]})
    return {region: (cable, got[1].get(region, "")) for region, cable in got[0].items()}
