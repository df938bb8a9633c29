"""Paris traceroute in the lab (root; CI is root): every region x cable traced, checked hop for
hop against Debian's traceroute in the same namespace, attributed to its cable, with the wet
segment's RTT jump at the cable's configured delay; and the service path moved by
`lab reroute` as a BGP change would move it."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import cablewatch_cmd
from lab_helpers import CABLES, Lab

pytestmark = pytest.mark.netns


def _in(lab: Lab, region: str, *argv: str) -> str:
    """Run a command in ``region``'s namespace, as `lab exec` does (ip netns exec, which also
    gives it the namespace's hosts file), without a Python start per call."""
    ns = f"{lab.prefix}-{region}"
    proc = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    return proc.stdout


def _traceroute(lab: Lab, region: str, target: str, *flags: str) -> list[str]:
    """Debian traceroute's hop addresses ('*' silent), one probe per hop."""
    out = _in(lab, region, "traceroute", "-n", *flags, "-q", "1", "-w", "2", target)
    return [line.split()[1] for line in out.splitlines()[1:]]


def _ours(lab: Lab, region: str, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        _in(lab, region, *cablewatch_cmd("trace", *args, "--json"))
    )
    return rows


def test_every_path_traced_agrees_with_traceroute_and_names_its_cable(lab: Lab) -> None:
    targets = lab.targets()
    with ThreadPoolExecutor(max_workers=9) as pool:
        ours = dict(zip(targets, pool.map(lambda r: _ours(lab, r, r), targets), strict=True))
        theirs = {
            (r, c): pool.submit(_traceroute, lab, r, targets[r][c]["target"], "-I")
            for r in targets for c in CABLES
        }  # fmt: skip
    attributed = 0
    for region, rows in ours.items():
        assert len(rows) == 4, region  # three cables, then the service path
        by_cable = {r["labels"]["cable"]: r for r in rows}
        for cable in CABLES:
            trace = by_cable[cable]["trace"]
            assert (trace["reached"], trace["mode"]) == (True, "icmp"), (region, cable)
            assert [h["address"] for h in trace["hops"]] == theirs[(region, cable)].result()
            assert [h["name"] for h in trace["hops"][:2]] == targets[region][cable]["hops"][:2]
            attributed += trace["cable"] == cable
            floor = targets[region][cable]["floor_rtt_ms"]
            assert trace["wet"] == [1, 2], (region, cable)
            assert abs(trace["wet_jump_ms"] - floor) <= 1.0, (region, cable, trace["wet_jump_ms"])
        service = by_cable[""]
        assert service["labels"]["path"] == "service"
        assert service["trace"]["reached"]
        assert service["trace"]["cable"] in CABLES
    assert attributed == 27


def test_udp_traces_agree_with_traceroute_too(lab: Lab) -> None:
    targets = lab.targets()["brunei"]
    rows = _ours(lab, "brunei", "brunei", "--udp")
    for row in rows[:3]:
        cable = row["labels"]["cable"]
        assert row["trace"]["mode"] == "udp"
        assert row["trace"]["cable"] == cable
        expected = _traceroute(lab, "brunei", targets[cable]["target"], "-U", "-p", "33434")
        assert [h["address"] for h in row["trace"]["hops"]] == expected


def test_reroute_moves_the_service_path_and_nothing_else(lab: Lab) -> None:
    vip = "198.19.0.1"
    before = _ours(lab, "jakarta", vip)[0]["trace"]["cable"]
    assert before == "ADC"  # the lab's first route: the first cable
    out = lab.run("reroute", "jakarta", "--via", "sjc").stdout
    try:
        assert out.startswith(f"rerouted jakarta: {vip} via SJC (next hop ")
        moved = _ours(lab, "jakarta", vip)[0]["trace"]
        assert moved["cable"] == "SJC"
        assert moved["reached"]
        status = lab.status()
        assert status["service_routes"]["jakarta"] == "SJC"
        assert all(not p["cut"] for p in status["paths"])  # nothing was cut
        assert _ours(lab, "singapore", vip)[0]["trace"]["cable"] == "ADC"  # others stay
    finally:
        lab.run("reroute", "jakarta", "--via", "ADC")
    assert _ours(lab, "jakarta", vip)[0]["trace"]["cable"] == "ADC"
    bad = lab.run("reroute", "jakarta", "--via", "SMW3", check=False)
    assert bad.returncode == 2
    assert "unknown cable 'SMW3'" in bad.stderr
