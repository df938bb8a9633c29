"""The status page in the customer's words (reports/status.py): why each region is on its
cable, with the region's name, and no internal scores."""

from __future__ import annotations

from cablewatch.reports.status import OpenIncident, RegionNow, page, why
from cablewatch.sla.policy import SlaPolicy

T = 1_796_000_000.0  # 2026-11-30 00:53:20 UTC


def _now(**kw: object) -> RegionNow:
    base: dict[str, object] = {"region": "ho-chi-minh-city", "cable": "APCN-2",
                               "reason": "failover: ADC is down (losing packets; 9 % over the "
                               "window); APCN-2 clean, score 35.4 ms",
                               "states": {"ADC": "good", "APCN-2": "good"},
                               "p50_ms": {"ADC": 23.5, "APCN-2": 43.7},
                               "name": "Ho Chi Minh City", "kind": "fault", "previous": "ADC",
                               "since_s": T, "holddown_s": 600.0}  # fmt: skip
    return RegionNow(**(base | kw))  # type: ignore[arg-type]


def test_a_move_for_a_fault_says_when_and_when_it_moves_back() -> None:
    assert why(_now()) == (
        "ADC had a fault at 00:53 UTC; we moved you to APCN-2. ADC is healthy again; we move "
        "you back once it has been stable for 10 minutes.")  # fmt: skip
    still = why(_now(states={"ADC": "bad", "APCN-2": "good"}))
    assert still.endswith("ADC is still impaired.")


def test_other_reasons() -> None:
    assert why(_now(kind="initial", previous=None)) == (
        "You are on APCN-2, the fastest of your cables.")  # fmt: skip
    assert why(_now(kind="speed")) == (
        "We moved you from ADC to APCN-2 at 00:53 UTC: it has been consistently faster."
    )
    assert why(_now(cable=None)).startswith("Measuring your cables")


def test_the_page_names_regions_and_shows_no_scores() -> None:
    policy = SlaPolicy("sea-retail", ("ho-chi-minh-city",), ("ADC", "APCN-2"))
    html = page(
        policy,
        "Shantou",
        T + 60,
        {"ho-chi-minh-city": _now()},
        [OpenIncident("cable", "ADC", "ADC", T - 30, ("ho-chi-minh-city",))],
        {},
    )
    assert "<h2>Ho Chi Minh City " in html
    assert "ho-chi-minh-city" not in html
    assert "score" not in html
    assert "ADC: healthy, 23.5 ms" in html
    assert "Cable ADC: a fault" in html
    assert "we moved you to APCN-2" in html
