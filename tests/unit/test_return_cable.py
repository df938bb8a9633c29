"""The way back named from one-way delays: the cable whose floor the reverse delay fits."""

from __future__ import annotations

import pytest

from cablewatch.config.loader import load_default
from cablewatch.topology.attribution import UNKNOWN, return_cable

TOPOLOGY = load_default().topology
SINGAPORE = TOPOLOGY.region("singapore")
FLOOR = {c: p.one_way_ms for c, p in SINGAPORE.paths.items()}  # ADC 15.30, SJC 17.10, APCN-2 14.80


@pytest.mark.parametrize("back", ["ADC", "SJC", "APCN-2"])
@pytest.mark.parametrize("land_ms", [0.0, 0.05, 4.0])
def test_the_reverse_delay_names_the_cable_it_came_back_over(back: str, land_ms: float) -> None:
    """Out over ADC; land around the ocean adds the same each way."""
    fit = return_cable(SINGAPORE, "ADC", FLOOR["ADC"] + land_ms, FLOOR[back] + land_ms + 0.04)
    assert fit.cable == back, fit
    assert fit.residual_ms == pytest.approx(0.04)
    assert back in fit.reason


def test_between_two_cables_or_off_every_cable_it_is_unknown() -> None:
    between = (FLOOR["ADC"] + FLOOR["APCN-2"]) / 2  # 0.25 ms from each
    fit = return_cable(SINGAPORE, "SJC", FLOOR["SJC"], between, fit_ms=0.3)
    assert fit.cable == UNKNOWN
    assert "ADC" in fit.reason
    assert "APCN-2" in fit.reason
    off = return_cable(SINGAPORE, "ADC", FLOOR["ADC"], FLOOR["SJC"] + 3.0)
    assert off.cable == UNKNOWN
    assert "fits no cable" in off.reason
    assert return_cable(SINGAPORE, "nope", 1.0, 1.0).cable == UNKNOWN


def test_floors_too_close_to_tell_apart_are_the_way_out() -> None:
    """Tokyo's SJC and APCN-2 floors are both 17.4 ms: back the way it went out."""
    tokyo = TOPOLOGY.region("tokyo")
    sjc = tokyo.paths["SJC"].one_way_ms
    for out in ("SJC", "APCN-2"):
        fit = return_cable(tokyo, out, sjc + 0.02, sjc + 0.03)
        assert fit.cable == out, fit
        assert "the way out assumed" in fit.reason
    # ... but not when the delay says another cable: ADC's floor is 1.8 ms further
    assert return_cable(tokyo, "SJC", sjc, tokyo.paths["ADC"].one_way_ms).cable == "ADC"
