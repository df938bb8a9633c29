"""The lab's blueprint (pure): names, addresses, routes, paths."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from cablewatch.config import load, load_default
from cablewatch.errors import CablewatchError, ConfigError
from cablewatch.lab import scenario
from cablewatch.lab.plan import build_plan

DATA = Path(__file__).parent.parent / "data"


def test_one_path_per_region_and_cable_with_landing_point_routers() -> None:
    plan = build_plan(load_default())
    assert len(plan.paths) == 27
    singapore_adc = plan.path("singapore", "ADC")
    assert [name for _addr, name in singapore_adc.hops] == [
        "adc-tuas",
        "adc-shantou",
        "shantou-adc",
    ]
    hk_apcn = plan.path("hong-kong", "APCN-2")
    assert [name for _addr, name in hk_apcn.hops] == [
        "apcn-2-lantau",
        "apcn-2-shantou",
        "shantou-apcn-2",
    ]
    assert singapore_adc.target == "198.19.1.1"
    assert singapore_adc.floor_rtt_ms == pytest.approx(2 * 3122 * 0.0049)


def test_names_fit_linux_limits_and_addresses_are_unique() -> None:
    plan = build_plan(load_default())
    devices = [(k.ns_a, k.dev_a) for k in plan.links] + [(k.ns_b, k.dev_b) for k in plan.links]
    devices += [(s.lp_ns, s.lp_dev) for s in plan.segments]
    devices += [(s.shantou_ns, s.shantou_dev) for s in plan.segments]
    assert all(len(dev) <= 15 for _ns, dev in devices)
    assert len(set(devices)) == len(devices)  # unique within each namespace
    addrs = [k.addr_a for k in plan.links if k.addr_a] + [k.addr_b for k in plan.links]
    addrs += [s.lp_addr for s in plan.segments] + [s.shantou_addr for s in plan.segments]
    assert len(set(addrs)) == len(addrs)
    lab_range = ipaddress.ip_network("198.18.0.0/16")
    assert all(ipaddress.ip_interface(a).ip in lab_range for a in addrs)
    assert len(set(plan.namespaces)) == len(plan.namespaces) == 29


def test_each_region_routes_each_cable_address_over_that_cable() -> None:
    plan = build_plan(load_default())
    routes = {(r.ns, r.destination): r.dev for r in plan.routes}
    for region_ns in plan.region_ns.values():
        assert routes[(region_ns, "198.19.1.1/32")] == "adc"
        assert routes[(region_ns, "198.19.2.1/32")] == "sjc"
        assert routes[(region_ns, "198.19.3.1/32")] == "apcn-2"


def test_a_loopback_target_cannot_be_a_lab_address() -> None:
    with pytest.raises(CablewatchError, match="cannot be a lab service address"):
        build_plan(load(DATA / "valid-loopback.toml"))


def test_default_scenario_loads() -> None:
    events = scenario.load(Path(scenario.__file__).parent / "scenarios" / "default.toml")
    assert [e.describe() for e in events] == [
        "cut ADC",
        "degrade SJC for jakarta (add_delay_ms=25, loss_pct=2, jitter_ms=3)",
        "restore ADC",
        "restore SJC",
    ]


def test_invalid_scenario_names_each_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[events]]\nat_s = -1\naction = "cut"\ncable = "ADC"\n'
        '[[events]]\nat_s = 5\naction = "degrade"\ncable = "SJC"\n'
        '[[events]]\nat_s = 6\naction = "explode"\ncable = "SJC"\n'
    )
    with pytest.raises(ConfigError) as info:
        scenario.load(bad)
    assert [f"{i.key}: {i.problem}" for i in info.value.issues] == [
        "events[0].at_s: got -1, expected a number >= 0",
        "events[1].action: degrade needs at least one of add_delay_ms, loss_pct, jitter_ms, "
        "rate_kbps",
        "events[2].action: got 'explode' (string), expected one of 'cut', 'degrade', 'restore'",
    ]
