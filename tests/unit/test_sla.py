"""SLA evaluation against a hand-computed fixture (see the comments for every number).

Two paths of Singapore over 120 minutes, 60 packets a minute (12 rounds of 5):

- ADC: median 31 ms and no loss, except minutes 100-104 (10 of 60 lost: 16.7 %, bad),
  105 (3 lost: exactly 5 %, good: the limit is "above"), 106 (median exactly 120 ms: good),
  107 (median 120.5 ms: bad), 110-114 (no data: the agent was down), 115 (4 packets: fewer
  than min_packets, no data), 116 (all 60 lost: bad).
- SJC: median 34 ms and no loss, except minutes 100-104 (10 of 60 lost: bad), 105 (3 lost:
  good) and 116 (no data).

deploy/prometheus/sla_test.yml feeds the same pattern to the generated Prometheus rules and
expects the same burn rates.
"""

from __future__ import annotations

import dataclasses

import pytest

from cablewatch.sla.evaluate import (
    Minute,
    burn_rate,
    evaluate_path,
    evaluate_region,
    minute_state,
    region_minute_state,
    window_minutes,
)
from cablewatch.sla.policy import SlaPolicy

T0 = 1_680_000_000  # a multiple of 60
NOW = T0 + 120 * 60  # the end of minute 119
POLICY = SlaPolicy(
    customer="sea-retail", regions=("singapore",), cables=("ADC", "SJC"),
    availability_pct=99.9, period_days=30, rtt_p95_ms=80.0, loss_pct=1.0,
    objective_window_s=3600, bad_minute_loss_pct=5.0, bad_minute_rtt_ms=120.0, min_packets=5,
)  # fmt: skip


def adc() -> dict[int, Minute]:
    out = {}
    for m in range(120):
        start = T0 + 60 * m
        if 110 <= m <= 114:
            continue
        sent, received, median = 60, 60, 31.0
        if 100 <= m <= 104:
            received = 50
        elif m == 105:
            received = 57
        elif m == 106:
            median = 120.0
        elif m == 107:
            median = 120.5
        elif m == 115:
            sent = received = 4
        out[start] = Minute(start, sent, received, None if m == 116 else median)
        if m == 116:
            out[start] = Minute(start, 60, 0, None)
    return out


def sjc() -> dict[int, Minute]:
    return {
        T0 + 60 * m: Minute(
            T0 + 60 * m, 60, 50 if 100 <= m <= 104 else (57 if m == 105 else 60), 34.0
        )
        for m in range(120)
        if m != 116
    }


def test_minute_states_at_the_limits() -> None:
    minutes = adc()
    state = {m: minute_state(minutes.get(T0 + 60 * m), POLICY) for m in range(120)}
    assert [m for m, s in state.items() if s == "bad"] == [100, 101, 102, 103, 104, 107, 116]
    assert [m for m, s in state.items() if s == "nodata"] == [110, 111, 112, 113, 114, 115]
    assert state[105] == "good"  # 5 % loss is not above 5 %
    assert state[106] == "good"  # 120 ms is not above 120 ms


def test_region_minute_is_the_best_cable() -> None:
    assert region_minute_state(["bad", "good"]) == "good"
    assert region_minute_state(["bad", "nodata"]) == "bad"
    assert region_minute_state(["nodata", "nodata"]) == "nodata"
    assert region_minute_state([]) == "nodata"


def test_window_holds_complete_minutes_only() -> None:
    assert list(window_minutes(NOW, 300)) == [T0 + 60 * m for m in range(115, 120)]
    assert list(window_minutes(NOW + 59, 300)) == [T0 + 60 * m for m in range(115, 120)]
    assert list(window_minutes(NOW + 60, 300)) == [T0 + 60 * m for m in range(116, 121)]
    assert len(window_minutes(NOW, 30 * 86400)) == 43200


def test_burn_rate_ignores_minutes_without_data() -> None:
    assert burn_rate(["nodata", "bad", "good", "good", "good"], POLICY) == pytest.approx(250.0)
    assert burn_rate(["nodata", "nodata"], POLICY) is None
    assert burn_rate(["good"] * 10, POLICY) == 0.0


def test_path_status_hand_computed() -> None:
    s = evaluate_path(POLICY, "singapore", "ADC", adc(), NOW, rtt_p95_ms=33.0)
    assert (s.good_minutes, s.bad_minutes) == (107, 7)
    assert s.nodata_minutes == 43200 - 114  # the gap and every minute before the fixture
    assert s.availability_pct == pytest.approx(100 * 107 / 114)  # 93.8596 %
    assert s.budget_minutes == pytest.approx(43.2)  # 0.1 % of 30 days
    assert s.budget_left_pct == pytest.approx(100 * (1 - 7 / 43.2))  # 83.7963 %
    assert s.burn_rates["5m"] == pytest.approx(1 / 4 / 0.001)  # 115 no data, 116 bad: 250
    assert s.burn_rates["30m"] == pytest.approx(7 / 24 / 0.001)  # 90-119: 291.667
    assert s.burn_rates["1h"] == pytest.approx(7 / 54 / 0.001)  # 60-119: 129.630
    assert s.burn_rates["6h"] == pytest.approx(7 / 114 / 0.001)  # 61.404
    assert s.burn_rates["3d"] == pytest.approx(7 / 114 / 0.001)
    assert s.alerts == ("CablewatchSlaBurnFast", "CablewatchSlaBurnSlow", "CablewatchSlaBurnTicket")
    # loss over the last hour, by packets: minutes 60-119 but the gap; 115 has 4 packets
    sent = 54 * 60 + 4
    lost = 5 * 10 + 3 + 60
    assert s.loss_pct == pytest.approx(100 * lost / sent)  # 3.4834 %
    assert (s.rtt_ok, s.loss_ok, s.availability_ok, s.compliant) == (True, False, False, False)


def test_region_status_hand_computed() -> None:
    s = evaluate_region(POLICY, "singapore", {"ADC": adc(), "SJC": sjc()}, NOW,
                        {"ADC": 33.0, "SJC": 35.5})  # fmt: skip
    # both bad 100-104; 116 ADC bad, SJC no data: bad; 107 and the gap: SJC good
    assert (s.cable, s.good_minutes, s.bad_minutes) == ("any", 114, 6)
    assert s.availability_pct == pytest.approx(95.0)
    assert s.budget_left_pct == pytest.approx(100 * (1 - 6 / 43.2))  # 86.1111 %
    assert s.burn_rates["5m"] == pytest.approx(1 / 5 / 0.001)  # 200
    assert s.burn_rates["1h"] == pytest.approx(6 / 60 / 0.001)  # 100
    assert s.rtt_p95_ms == 33.0  # the best cable's
    assert s.burn_rates["30m"] == pytest.approx(6 / 30 / 0.001)  # 200
    assert s.burn_rates["6h"] == pytest.approx(6 / 120 / 0.001)  # 50
    assert s.loss_pct == pytest.approx(100 * 53 / (59 * 60))  # SJC's 1.4972 %


def test_quiet_path_burns_nothing() -> None:
    quiet = {T0 + 60 * m: Minute(T0 + 60 * m, 60, 60, 31.0) for m in range(120)}
    s = evaluate_path(POLICY, "singapore", "ADC", quiet, NOW, rtt_p95_ms=32.0)
    assert s.bad_minutes == 0
    assert s.budget_left_pct == 100.0
    assert set(s.burn_rates.values()) == {0.0}
    assert s.alerts == ()
    assert s.compliant is True


def test_no_data_at_all_is_unknown_not_compliant() -> None:
    s = evaluate_path(POLICY, "singapore", "ADC", {}, NOW, rtt_p95_ms=None)
    assert s.availability_pct is None
    assert set(s.burn_rates.values()) == {None}
    assert s.compliant is None
    assert s.budget_left_pct == 100.0


def test_a_ttft_objective_is_met_on_the_best_cable_and_missed_alone() -> None:
    """TTFT p95 (ttft_p95_ms) is an objective like RTT p95: a path over it is not compliant,
    the region takes its best cable's; a policy without one leaves it out of compliance."""
    quiet = {T0 + 60 * m: Minute(T0 + 60 * m, 60, 60, 31.0) for m in range(120)}
    policy = dataclasses.replace(POLICY, ttft_p95_ms=400.0)
    slow = evaluate_path(policy, "singapore", "SJC", quiet, NOW, 32.0, ttft_p95_ms=400.5)
    assert (slow.ttft_p95_ms, slow.ttft_ok, slow.rtt_ok) == (400.5, False, True)
    assert slow.compliant is False
    at = evaluate_path(policy, "singapore", "ADC", quiet, NOW, 32.0, ttft_p95_ms=400.0)
    assert (at.ttft_ok, at.compliant) == (True, True)  # the limit is "above"
    region = evaluate_region(policy, "singapore", {"ADC": quiet, "SJC": quiet}, NOW,
                             {"ADC": 32.0, "SJC": 32.0},
                             ttft_p95_ms={"ADC": 612.0, "SJC": 287.25})  # fmt: skip
    assert (region.ttft_p95_ms, region.ttft_ok, region.compliant) == (287.25, True, True)
    unset = evaluate_path(POLICY, "singapore", "SJC", quiet, NOW, 32.0, ttft_p95_ms=900.0)
    assert (unset.ttft_p95_ms, unset.ttft_ok, unset.compliant) == (900.0, None, True)
    nodata = evaluate_path(policy, "singapore", "SJC", quiet, NOW, 32.0, ttft_p95_ms=None)
    assert (nodata.ttft_ok, nodata.compliant) == (None, True)


def test_a_live_status_counts_the_minute_in_progress_from_its_first_round() -> None:
    """A fresh install: no complete minute yet, one round of 5 packets 10 s into the first
    minute. Complete minutes only, every figure is unknown; live, the minute in progress is
    counted (5 packets over 10 s meet min_packets in proportion, 1) and marked."""
    start = NOW
    first = {start: Minute(start, 5, 5, 31.0)}
    then = start + 10
    assert evaluate_path(POLICY, "singapore", "ADC", first, then, 31.0).availability_pct is None
    s = evaluate_path(POLICY, "singapore", "ADC", first, then, 31.0, ongoing=True)
    assert (s.availability_pct, s.good_minutes, s.ongoing) == (100.0, 1, "good")
    assert s.burn_rates["5m"] == 0.0
    assert s.loss_pct == 0.0
    region = evaluate_region(POLICY, "singapore", {"ADC": first, "SJC": {}}, then,
                             {"ADC": 31.0, "SJC": None}, ongoing=True)  # fmt: skip
    assert (region.availability_pct, region.ongoing) == (100.0, "good")
    # the same 5 packets would be too few for a whole minute
    assert minute_state(first[start], POLICY, elapsed_s=10.0) == "good"
    assert minute_state(Minute(start, 4, 4, 31.0), POLICY, elapsed_s=60.0) == "nodata"


def test_the_minute_in_progress_waits_for_a_round_and_never_raises_an_alert() -> None:
    """In its first seconds the minute in progress has no round: the windows stay those of
    the complete minutes (a live status equals the complete one). A bad minute in progress
    shows in the figures (burn 5m) but raises no alert: alerts are of complete minutes."""
    quiet = {T0 + 60 * m: Minute(T0 + 60 * m, 60, 60, 31.0) for m in range(120)}
    complete = evaluate_path(POLICY, "singapore", "ADC", quiet, NOW + 2, 32.0)
    live = evaluate_path(POLICY, "singapore", "ADC", quiet, NOW + 2, 32.0, ongoing=True)
    assert live.ongoing is None
    assert dataclasses.replace(live, ongoing=None) == complete
    lossy = quiet | {NOW: Minute(NOW, 10, 0, None)}  # two rounds, every packet lost
    s = evaluate_path(POLICY, "singapore", "ADC", lossy, NOW + 20, 32.0, ongoing=True)
    # the period now ends with the minute in progress: the 120 quiet minutes and it
    assert (s.ongoing, s.bad_minutes, s.good_minutes) == ("bad", 1, 120)
    assert s.burn_rates["5m"] == pytest.approx(1 / 5 / 0.001)
    assert s.alerts == ()


def test_minutes_before_monitoring_began_are_not_counted_as_no_data() -> None:
    """A fresh install is not 43,086 no-data minutes (a probe gap) into its period: the minutes
    before the first measured one are not counted; the gap after it still is."""
    s = evaluate_path(POLICY, "singapore", "ADC", adc(), NOW, rtt_p95_ms=33.0, since_s=T0 + 30)
    assert (s.good_minutes, s.bad_minutes, s.nodata_minutes) == (107, 7, 6)  # 110-115
    assert s.availability_pct == pytest.approx(100 * 107 / 114)  # as without since_s
    assert s.burn_rates == evaluate_path(POLICY, "singapore", "ADC", adc(), NOW, 33.0).burn_rates
    region = evaluate_region(POLICY, "singapore", {"ADC": adc(), "SJC": sjc()}, NOW,
                             {"ADC": 33.0, "SJC": 35.0}, since_s=T0 + 60 * 100)  # fmt: skip
    assert region.good_minutes + region.bad_minutes + region.nodata_minutes == 20  # 100-119
    nothing = evaluate_path(POLICY, "singapore", "ADC", {}, NOW, rtt_p95_ms=None, since_s=NOW)
    assert (nothing.nodata_minutes, nothing.availability_pct) == (0, None)
