"""Namespace tests (root; CI is root): dropped replies, unprivileged ICMP, no permission."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import cablewatch_cmd

pytestmark = pytest.mark.netns


def _in_ns(ns: str, *args: str, drop_raw: bool = False) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "netns", "exec", ns]
    if drop_raw:  # root without CAP_NET_RAW: no raw sockets, like an ordinary user
        prefix += ["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw"]
    return subprocess.run(
        [*prefix, *cablewatch_cmd(*args)], capture_output=True, text=True, timeout=60, check=False
    )


def _sysctl(ns: str, setting: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", setting], check=True)


def test_dropped_replies_are_full_loss_exit_1(netns: str) -> None:
    rules = (
        "add table inet cwtest\n"
        "add chain inet cwtest input { type filter hook input priority 0; }\n"
        "add rule inet cwtest input icmp type echo-reply drop\n"
    )
    subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "-f", "-"], input=rules, text=True, check=True
    )
    proc = _in_ns(netns, "ping", "127.0.0.1", "-c", "3", "-i", "0.05", "-W", "0.5", "--json")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["status"] == "loss"
    assert row["rtts_ms"] == [None, None, None]
    assert row["percent_packet_loss"] == 100.0
    assert row["error"] == "no reply to 3 echo requests within 0.5 s"


def test_unprivileged_ping_sockets_when_allowed(netns: str) -> None:
    _sysctl(netns, "net.ipv4.ping_group_range=0 2147483647")
    proc = _in_ns(
        netns, "ping", "127.0.0.1", "::1", "-c", "3", "-i", "0.01", "--json", drop_raw=True
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["packets_received"] for r in rows] == [3, 3]
    assert all(r["ttl"] == 64 for r in rows)  # TTL from ancillary data on ping sockets


def test_no_permission_is_one_line_with_what_to_do(netns: str) -> None:
    _sysctl(netns, "net.ipv4.ping_group_range=1 0")
    proc = _in_ns(netns, "ping", "127.0.0.1", "-c", "1", drop_raw=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(
        "cablewatch: no permission to open an ICMP socket (IPv4): run as root"
    )
    assert "setcap cap_net_raw+ep" in lines[0]
    assert 'net.ipv4.ping_group_range="0 0"' in lines[0]
