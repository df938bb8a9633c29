"""Paris traceroute in the lab (root; CI is root): every region x cable traced, checked hop for
hop against Debian's traceroute in the same namespace, attributed to its cable, with the wet
segment's RTT jump at the cable's configured delay; the service path moved by `lab reroute`
as a BGP change would move it; and time to first token from every region over every cable."""

from __future__ import annotations

import json
import statistics
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


def _traceroute(lab: Lab, region: str, target: str, *flags: str) -> str:
    """Debian traceroute's output, one probe per hop."""
    return _in(lab, region, "traceroute", "-n", *flags, "-q", "1", "-w", "2", target)


def _hops(output: str) -> list[str]:
    """The hop addresses of traceroute's output ('*' silent)."""
    return [line.split()[1] for line in output.splitlines()[1:]]


def _icmp_counters(lab: Lab) -> dict[str, str]:
    """Every lab namespace's non-zero ICMP counters (nstat): sent, received, rate-limited."""
    out = {}
    for ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                             check=True).stdout.split():  # fmt: skip
        if ns.startswith(f"{lab.prefix}-"):
            text = subprocess.run(["ip", "netns", "exec", ns, "nstat", "-az"],
                                  capture_output=True, text=True, check=False).stdout  # fmt: skip
            rows = [line.split() for line in text.splitlines()]
            out[ns] = " ".join(
                f"{w[0]}={w[1]}" for w in rows if len(w) > 1 and "Icmp" in w[0] and w[1] != "0"
            ) + _link_drops(ns)
    return out


def _link_drops(ns: str) -> str:
    """The namespace's links that dropped packets, TUN devices aside (their 16-packet queue,
    which the emulator never reads, drops by design; it taps them with packet sockets, whose
    drops the emulator's status counts as tap_drops)."""
    text = subprocess.run(["ip", "-n", ns, "-j", "-s", "link", "show"], capture_output=True,
                          text=True, check=False).stdout  # fmt: skip
    out = ""
    for link in json.loads(text or "[]"):
        if link.get("link_type") == "none":  # a TUN device
            continue
        stats = link.get("stats64", {})
        rx, tx = stats.get("rx", {}).get("dropped", 0), stats.get("tx", {}).get("dropped", 0)
        if rx or tx:
            out += f" {link['ifname']}:rx_dropped={rx},tx_dropped={tx}"
    return out


def _disagreement(lab: Lab, path: tuple[str, str], ours: list[str], output: str) -> str:
    """What a NOC would look at when two traceroutes disagree: both, the emulator's counters
    for the path, and every namespace's ICMP counters."""
    status = next(p for p in lab.status()["paths"] if (p["region"], p["cable"]) == path)
    return f"{path}: ours {ours}\ntraceroute:\n{output}\nemulator: {status}\n" + "\n".join(
        f"{ns}: {c}" for ns, c in _icmp_counters(lab).items()
    )


def _ours(lab: Lab, region: str, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        _in(lab, region, *cablewatch_cmd("trace", *args, "--json"))
    )
    return rows


def test_every_path_traced_agrees_with_traceroute_and_names_its_cable(lab: Lab) -> None:
    targets = lab.targets()
    # Two at a time: nine Python processes starting at once on 2 cores would starve the user
    # space emulator, whose delay is the ground truth here. 10 probes a hop: the wet jump is
    # between minimum RTTs, and 3 can all be delayed on a loaded machine.
    with ThreadPoolExecutor(max_workers=2) as pool:
        ours = dict(zip(targets, pool.map(lambda r: _ours(lab, r, r, "-q", "10"), targets),
                        strict=True))  # fmt: skip
        theirs = {
            (r, c): pool.submit(_traceroute, lab, r, targets[r][c]["target"], "-I")
            for r in targets for c in CABLES
        }  # fmt: skip
    attributed, errors = 0, {}
    for region, rows in ours.items():
        assert len(rows) == 4, region  # three cables, then the service path
        by_cable = {r["labels"]["cable"]: r for r in rows}
        for cable in CABLES:
            trace = by_cable[cable]["trace"]
            assert (trace["reached"], trace["mode"]) == (True, "icmp"), (region, cable)
            mine, output = [h["address"] for h in trace["hops"]], theirs[(region, cable)].result()
            assert mine == _hops(output), _disagreement(lab, (region, cable), mine, output)
            assert [h["name"] for h in trace["hops"][:2]] == targets[region][cable]["hops"][:2]
            attributed += trace["cable"] == cable
            assert trace["wet"] == [1, 2], (region, cable)
            errors[(region, cable)] = trace["wet_jump_ms"] - targets[region][cable]["floor_rtt_ms"]
        service = by_cable[""]
        assert service["labels"]["path"] == "service"
        assert service["trace"]["reached"]
        assert service["trace"]["cable"] in CABLES
    assert attributed == 27
    # The wet jump is a minimum; a user-space emulator on a busy machine can hold a whole
    # trace's packets back. A path off by more than 1 ms is traced again, alone, twice at most.
    for (region, cable), error in list(errors.items()):
        for _ in range(2):
            if abs(errors[(region, cable)]) <= 1.0:
                break
            [again] = _ours(lab, region, region, "--cable", cable, "-q", "10")
            error = again["trace"]["wet_jump_ms"] - targets[region][cable]["floor_rtt_ms"]
            errors[(region, cable)] = min(errors[(region, cable)], error, key=abs)
    assert max(abs(e) for e in errors.values()) <= 1.0, errors


def test_udp_traces_agree_with_traceroute_too(lab: Lab) -> None:
    targets = lab.targets()["brunei"]
    rows = _ours(lab, "brunei", "brunei", "--udp")
    for row in rows[:3]:
        cable = row["labels"]["cable"]
        assert row["trace"]["mode"] == "udp"
        assert row["trace"]["cable"] == cable
        output = _traceroute(lab, "brunei", targets[cable]["target"], "-U", "-p", "33434")
        mine = [h["address"] for h in row["trace"]["hops"]]
        assert mine == _hops(output), _disagreement(lab, ("brunei", cable), mine, output)


def test_reroute_moves_the_service_path_and_nothing_else(lab: Lab) -> None:
    vip = "198.19.0.1"
    routes = lab.status()["service_routes"]  # other tests' gateway stand-ins may have moved them
    before = _ours(lab, "jakarta", vip)[0]["trace"]["cable"]
    assert before == routes["jakarta"]
    via = "SJC" if before != "SJC" else "APCN-2"
    out = lab.run("reroute", "jakarta", "--via", via.lower()).stdout
    try:
        assert out.startswith(f"rerouted jakarta: {vip} via {via} (next hop ")
        moved = _ours(lab, "jakarta", vip)[0]["trace"]
        assert (moved["cable"], moved["reached"]) == (via, True)
        status = lab.status()
        assert status["service_routes"] == routes | {"jakarta": via}  # the others stay
        assert all(not p["cut"] for p in status["paths"])  # nothing was cut
    finally:
        lab.run("reroute", "jakarta", "--via", before)
    assert _ours(lab, "jakarta", vip)[0]["trace"]["cable"] == before
    bad = lab.run("reroute", "jakarta", "--via", "SMW3", check=False)
    assert bad.returncode == 2
    assert "unknown cable 'SMW3'" in bad.stderr


REQUESTS = 5


def test_ttft_from_every_region_is_think_time_plus_two_round_trips(lab: Lab) -> None:
    """The lab's model thinks 200 ms; a customer waits a connect round trip, then the request's
    round trip and the think time. Over 5 requests per path, the median of each request's TTFT
    less its own floor (2 x its connect RTT + 200 ms) is within 2 ms on all 27 paths (paired:
    a request slowed by the emulator or a late timer is one sample, not the median of one
    column against the median of another), and the median TTFT is 200 ms + 2 x the round trip
    the emulator gave those requests' packets (its own record) within 3 ms.

    The error budget, measured here (2 cores, this test's two requests at a time, 4 runs of 27
    paths): TTFT over its floor, median 0.55 ms, largest 1.5 ms; TTFT over 200 ms + 2 x ICMP,
    median 0.6 ms, largest 1.25 ms (the ICMP RTT agrees with the emulator's applied delay within
    0.1 ms; what remains is the stand-in noticing the request and Python on both ends). Beside
    two CPU hogs: 3.0 and 3.6 ms at most. It was 1.3 ms median and 2.0 ms at most idle (3.26 ms
    once in a suite run) when the probe took the first token's time at its own wake-up and the
    stand-in's think timer woke 0.3-0.5 ms late: the probe now reads the kernel's receive time
    and the handshake's kernel RTT, and the stand-in spins out the last millisecond at nice
    -10. Until 2026-12-07 the reference was the median ICMP RTT, taken before the requests: a
    suite run missed by 3.01 ms (singapore/ADC 264.42 against 261.41 ms) while the paired
    check passed, its connect RTT 0.5-1.5 ms above the ICMP one: the emulator was later during
    the requests (two TTFT processes and the stand-in beside it) than during the pings. The
    reference is now what the emulator applied to the requests' own packets."""
    targets = lab.targets()
    lab.applied_rtt_ms()  # the emulator's record starts: the requests' packets only

    def rounds(region: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = json.loads(
            _in(lab, region, *cablewatch_cmd("ttft", region, "-c", str(REQUESTS), "--json"))
        )
        return out

    with ThreadPoolExecutor(max_workers=2) as pool:  # as above: the emulator needs CPU
        per_region = dict(zip(targets, pool.map(rounds, targets), strict=True))
    applied = lab.applied_rtt_ms()
    checked, excess, off = 0, [], []
    for region, rows in per_region.items():
        assert len(rows) == 3 * REQUESTS, region  # 3 cables
        for cable in CABLES:
            mine = [r for r in rows if r["labels"]["cable"] == cable]
            assert all(r["status"] == "ok" and r["tokens"] == 4 for r in mine), mine
            over = statistics.median(r["phases_ms"]["ttft"] - r["phases_ms"]["floor"]
                                     for r in mine)  # fmt: skip
            assert abs(over) <= 2.0, (region, cable, over, mine)
            ttft = statistics.median(r["phases_ms"]["ttft"] for r in mine)
            truth = 200.0 + 2 * applied[(region, cable)]
            assert abs(ttft - truth) <= 3.0, (region, cable, ttft, truth)
            off.append(abs(ttft - truth))
            excess.append(over)
            checked += 1
    assert checked == 27
    print(f"TTFT - floor: median {statistics.median(excess):.2f} ms, max {max(excess):.2f} ms; "
          f"|TTFT - (200 + 2 x applied RTT)|: median {statistics.median(off):.2f} ms, "
          f"max {max(off):.2f} ms")  # fmt: skip
