"""Least privilege: the agent as an unprivileged user (nobody), in a namespace of its own.

- with CAP_NET_RAW only (ambient, as deploy/systemd's unit grants it): raw ICMP sockets;
- without it, where net.ipv4.ping_group_range admits its group: unprivileged ICMP ("ping")
  sockets;
- with neither: exit 2 and one line that says what to do.
Each measures for real (loopback answers every echo). The spool it leaves is its own: mode
0600 in a 0700 directory, unreadable by another user. ping_group_range is set in the test's own
namespace, never on the host.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DATA, cablewatch_cmd
from lab_helpers import Lab
from pipeline_helpers import spool_report
from waiting import wait_until

from cablewatch.agent.spool import Spool
from cablewatch.harness.stack import agent_config

pytestmark = [pytest.mark.netns, pytest.mark.servers]

NOBODY = 65534
OTHER = 65533  # another unprivileged user
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
RAW_ONLY = ["--inh-caps=-all,+net_raw", "--ambient-caps=-all,+net_raw",
            "--bounding-set=-all,+net_raw"]  # fmt: skip
NO_CAPS = ["--inh-caps=-all", "--bounding-set=-all"]


@pytest.fixture
def home() -> Iterator[Path]:
    """A directory nobody can reach (pytest's own are root's alone), with the agent's
    configuration: ICMP only, to 127.0.0.1 and 127.0.0.2, every 0.2 s, no sink."""
    path = Path(tempfile.mkdtemp(prefix="cablewatch-priv-"))
    path.chmod(0o711)
    text = (DATA / "valid-loopback.toml").read_text()
    text = text[: text.index("[sinks.influxdb]")].replace('["icmp", "tcp", "http", "dns"]',
                                                           '["icmp"]')  # fmt: skip
    text = text.replace("interval_s = 5.0", "interval_s = 0.2").replace(
        "timeout_s = 1.0", "timeout_s = 0.1")  # fmt: skip
    (path / "agent.toml").write_text(text)
    (path / "agent.toml").chmod(0o644)
    state = path / "state"
    state.mkdir()
    os.chown(state, NOBODY, NOBODY)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def _agent(netns: str, home: Path, caps: list[str], config: str = "agent.toml"
           ) -> subprocess.Popen[str]:  # fmt: skip
    spool = home / "state" / "spool" / "singapore.db"  # the agent makes "spool"
    cmd = ["ip", "netns", "exec", netns, *AS_NOBODY, *caps,
           *cablewatch_cmd("agent", "--config", str(home / config), "--region",
                           "singapore", "--spool", str(spool), "--host", "sg-1")]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _probe_a_while(netns: str, home: Path, caps: list[str], config: str = "agent.toml") -> str:
    agent = _agent(netns, home, caps, config)
    spool = home / "state" / "spool" / "singapore.db"
    try:
        wait_until(lambda: spool.exists() and min(
            spool_report(spool)["rounds"].values(), default=0) >= 5, 30,
            "5 rounds per target")  # fmt: skip
    finally:
        agent.send_signal(signal.SIGTERM)
        out, _ = agent.communicate(timeout=30)
    assert agent.returncode == 0, out
    return out


def _ping_group(netns: str, value: str) -> None:
    subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-q", "-w",
                    f"net.ipv4.ping_group_range={value}"], check=True)  # fmt: skip


def _rounds(home: Path) -> list[dict[str, str]]:
    """The spooled ICMP rounds: each point's tags and fields, as text."""
    spool = Spool(home / "state" / "spool" / "singapore.db")
    lines = list(spool.lines("ping,"))
    spool.close()
    out = []
    for ln in lines:
        head, fields, _ts = ln.split(" ")  # these tags and fields hold no spaces
        out.append(dict(kv.split("=", 1) for kv in [*head.split(",")[1:], *fields.split(",")]))
    return out


def _received(home: Path) -> int:
    """Echo replies the spooled rounds hold."""
    return sum(int(r["packets_received"].rstrip("i")) for r in _rounds(home))


def test_with_cap_net_raw_only_it_probes_through_raw_sockets(netns: str, home: Path) -> None:
    _ping_group(netns, "1 0")  # no ping sockets: raw or nothing
    out = _probe_a_while(netns, home, RAW_ONLY)
    assert "ICMP through raw sockets" in out
    assert _received(home) >= 2 * 5 * 3  # two targets, 5 rounds of 3 packets, all answered


def test_in_the_lab_over_the_emulated_cables_with_cap_net_raw_only(lab: Lab, home: Path) -> None:
    """The same, from the lab's Singapore namespace to the landing station over its three
    emulated cables: every reply took the cable's delay (the median is above its floor)."""
    state = json.loads((lab.state_dir / "lab.json").read_text())
    config = agent_config(home / "lab.toml", "http://127.0.0.1:1", icmp_only=True)
    text = config.read_text()
    config.write_text(text[: text.index("\n[sinks.influxdb]")])  # no sink: the spool keeps all
    config.chmod(0o644)
    out = _probe_a_while(state["region_ns"]["singapore"], home, RAW_ONLY, "lab.toml")
    assert "ICMP through raw sockets" in out
    floors = {p["target"]: p["floor_rtt_ms"] for p in state["paths"]
              if p["region"] == "singapore"}  # fmt: skip
    rounds = _rounds(home)
    assert {r["target"] for r in rounds} == set(floors)
    for r in rounds:
        assert r["packets_received"] == "5i", r
        assert float(r["median_response_ms"]) >= floors[r["target"]], r


def test_without_it_it_uses_ping_sockets(netns: str, home: Path) -> None:
    _ping_group(netns, f"{NOBODY} {NOBODY}")
    out = _probe_a_while(netns, home, NO_CAPS)
    assert "ICMP through unprivileged sockets" in out
    assert _received(home) >= 2 * 5 * 3


def test_with_neither_one_line_says_what_to_do(netns: str, home: Path) -> None:
    _ping_group(netns, "1 0")
    agent = _agent(netns, home, NO_CAPS)
    out, _ = agent.communicate(timeout=30)
    assert agent.returncode == 2
    lines = out.strip().splitlines()
    assert lines[-1].startswith("cablewatch: no permission to open an ICMP socket (IPv4): ")
    assert "CAP_NET_RAW" in lines[-1]
    assert f'net.ipv4.ping_group_range="{NOBODY} {NOBODY}"' in lines[-1]


def test_the_spool_is_its_own(netns: str, home: Path) -> None:
    _ping_group(netns, "1 0")
    _probe_a_while(netns, home, RAW_ONLY)
    spool = home / "state" / "spool" / "singapore.db"
    for f in (spool.parent, spool):  # (its WAL file goes at a clean close)
        assert f.stat().st_uid == NOBODY, f
    assert spool.parent.stat().st_mode & 0o777 == 0o700
    assert spool.stat().st_mode & 0o777 == 0o600
    other = subprocess.run(["setpriv", f"--reuid={OTHER}", f"--regid={OTHER}", "--clear-groups",
                            "cat", str(spool)], capture_output=True, text=True)  # fmt: skip
    assert other.returncode != 0
    assert "Permission denied" in other.stderr
