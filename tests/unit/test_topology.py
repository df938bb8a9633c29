"""The packaged Shantou topology and the physics floor."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cablewatch.cli import app
from cablewatch.config import load_default
from cablewatch.errors import UnknownNameError
from cablewatch.topology import physics

# ../shared/topology.md, "Estimated one-way propagation, ms (region to Shantou, per cable)"
ONE_WAY_MS = {
    "singapore": (15.3, 17.1, 14.8),
    "jakarta": (21.0, 22.8, 20.5),
    "kuala-lumpur": (17.0, 18.9, 17.6),
    "bangkok": (18.8, 26.1, 23.9),
    "ho-chi-minh-city": (11.7, 24.1, 21.8),
    "manila": (9.6, 10.2, 8.9),
    "hong-kong": (5.7, 7.3, 2.1),
    "tokyo": (19.2, 17.4, 17.4),
    "brunei": (23.5, 13.6, 23.0),
}
CABLES = ("ADC", "SJC", "APCN-2")


def test_physics_floor_and_great_circle() -> None:
    assert physics.floor_rtt_ms(1000) == pytest.approx(9.8)
    assert physics.path_km_for_one_way_ms(4.9) == pytest.approx(1000)
    # London to Paris, a well-known haversine figure of about 343.5 km
    assert physics.great_circle_km(51.5074, -0.1278, 48.8566, 2.3522) == pytest.approx(
        343.5, abs=1.0
    )
    assert physics.stretch(33.0, 30.0) == pytest.approx(1.1)


def test_default_topology_has_nine_regions_and_three_cables() -> None:
    topo = load_default().topology
    assert [c.name for c in topo.cables] == list(CABLES)
    assert [r.id for r in topo.regions] == list(ONE_WAY_MS)
    assert topo.landing_station.name == "Shantou"
    for region in topo.regions:
        assert list(region.paths) == list(CABLES)
        for cable in CABLES:
            landing = region.paths[cable].landing_point
            assert landing is not None
            assert topo.cable(cable).landing_point(landing) is not None


def test_topology_show_floors_are_twice_the_one_way_estimates() -> None:
    result = CliRunner().invoke(app, ["topology", "show", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 27
    for row in rows:
        expected = 2 * ONE_WAY_MS[row["region"]][CABLES.index(row["cable"])]
        assert abs(row["floor_rtt_ms"] - expected) <= 0.5, row
        assert row["path_km"] >= row["great_circle_km"], row  # no path beats the great circle


def test_topology_show_table_lists_every_region() -> None:
    result = CliRunner().invoke(app, ["topology", "show"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for region in ONE_WAY_MS:
        assert region in result.output
    assert "30.60" in result.output  # Singapore over ADC: 2 x 3,122 km x 4.9 us


@pytest.mark.parametrize(
    ("given", "expected"),
    [("kuala-lumpur", "kuala-lumpur"), ("Kuala Lumpur", "kuala-lumpur"), ("TOKYO", "tokyo")],
)
def test_regions_are_found_case_insensitively(given: str, expected: str) -> None:
    assert load_default().topology.region(given).id == expected


@pytest.mark.parametrize(
    ("given", "expected"), [("adc", "ADC"), ("apcn-2", "APCN-2"), ("Sjc", "SJC")]
)
def test_cables_are_found_case_insensitively(given: str, expected: str) -> None:
    assert load_default().topology.cable(given).name == expected


def test_unknown_names_list_the_known_ones() -> None:
    topo = load_default().topology
    with pytest.raises(UnknownNameError, match=r"unknown cable 'SMW3' \(known: ADC, SJC, APCN-2\)"):
        topo.cable("SMW3")
    with pytest.raises(UnknownNameError, match="unknown region 'paris'"):
        topo.region("paris")


def test_targets_per_region_and_cable() -> None:
    topo = load_default().topology
    assert [t.cable for t in topo.targets_for("singapore")] == list(CABLES)
    (adc,) = topo.targets_for("jakarta", "adc")
    assert adc.address == "198.19.1.1"
    assert adc.protocols == ("icmp", "tcp", "http", "dns", "ttft", "trace")
