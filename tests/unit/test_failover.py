"""Failover recommendations on exact timelines (pure)."""

from __future__ import annotations

import pytest

from cablewatch.failover.engine import FailoverEngine
from cablewatch.failover.score import PathStats, Score, path_stats, score
from cablewatch.failover.settings import FailoverSettings

S = FailoverSettings(dwell_s=30.0, holddown_s=120.0, min_gain_ms=5.0, min_gain_pct=10.0,
                     fast_gain_ms=1000.0, fast_gain_pct=1000.0)  # fmt: skip
"""The long dwell only (the large-gain rule has its own test)."""


def sc(cable: str, ms: float | None, clean: bool = True) -> Score:
    return Score(cable, ms, clean)


def test_score_components_hand_computed() -> None:
    rounds = [(5, 5, 30.0, 1.0)] * 18 + [(5, 5, 40.0, 3.0)] * 2  # p50 30, p95 40
    stats = path_stats("singapore", "ADC", "good", 31.0, rounds)
    # percentile with linear interpolation: rank 0.95 x 19 = 18.05 falls between two 40s
    assert (stats.p50_ms, stats.p95_ms, stats.loss_pct) == (30.0, 40.0, 0.0)
    assert stats.jitter_ms == pytest.approx(1.2)
    s = score(stats, objective_p95_ms=35.0, clean_loss_pct=1.0)
    # 30 + (40 - 30) / 2 + 1.2 + 0 + 2 x (40 - 35) + 0
    assert s.score_ms == pytest.approx(46.2)
    assert s.clean
    lossy = path_stats("singapore", "ADC", "good", 31.0, [(5, 4, 30.0, 1.0)] * 10)
    assert lossy.loss_pct == 20.0
    ls = score(lossy, None, 1.0)
    assert not ls.clean
    assert ls.components["loss_ms"] == 40.0  # 2 ms per 1 %
    dead = path_stats("singapore", "ADC", "bad", 31.0, [(5, 0, None, None)] * 10)
    assert score(dead, None, 1.0).score_ms is None
    slow = PathStats("tokyo", "ADC", "good", 10, 60.0, 60.0, 0.0, 0.0, 30.0)
    assert score(slow, None, 1.0).components["stretch_ms"] == 15.0  # 60 - 1.5 x 30
    young = path_stats("tokyo", "ADC", "good", 30.0, [(5, 5, 31.0, 0.1)] * 4)
    assert score(young, None, 1.0).score_ms is None  # fewer than 5 rounds: no score yet


def test_fault_switches_at_once_to_the_best_clean_cable() -> None:
    e = FailoverEngine(S)
    first = e.update("jakarta", [sc("ADC", 42), sc("SJC", 47), sc("APCN-2", 45)], 0.0)
    assert first is not None
    assert (first.cable, first.kind) == ("ADC", "initial")
    assert e.update("jakarta", [sc("ADC", 42), sc("SJC", 47), sc("APCN-2", 45)], 1.0) is None
    cut = e.update("jakarta", [sc("ADC", None, False), sc("SJC", 47), sc("APCN-2", 45)], 2.0)
    assert cut is not None
    assert (cut.cable, cut.previous, cut.kind, cut.since_s) == ("APCN-2", "ADC", "fault", 2.0)
    assert e.version == 2
    assert e.switches == {"jakarta": 1}


def test_a_lossy_cable_is_never_chosen_while_a_clean_one_exists() -> None:
    e = FailoverEngine(S)
    # ADC scores best but loses packets: SJC, slower and clean, is chosen
    first = e.update("manila", [sc("ADC", 20, clean=False), sc("SJC", 80)], 0.0)
    assert first is not None
    assert first.cable == "SJC"
    for t in range(1, 200):
        assert e.update("manila", [sc("ADC", 20, clean=False), sc("SJC", 80)], float(t)) is None


def test_nothing_clean_means_no_switch() -> None:
    e = FailoverEngine(S)
    e.update("tokyo", [sc("ADC", 40), sc("SJC", 41)], 0.0)
    assert e.update("tokyo", [sc("ADC", None, False), sc("SJC", None, False)], 1.0) is None
    assert e.current("tokyo").cable == "ADC"  # type: ignore[union-attr]


def test_speed_switch_needs_the_gain_for_the_whole_dwell() -> None:
    e = FailoverEngine(S)
    e.update("bangkok", [sc("ADC", 50), sc("SJC", 52)], 0.0)
    # from t=10 SJC is 6 ms better: enough (>= 5 ms and >= 10 % of 50 ms) ...
    for t in range(10, 40):
        assert e.update("bangkok", [sc("ADC", 50), sc("SJC", 44)], float(t)) is None
    # ... but interrupted at t=40 (a 4 ms gain), so the 30 s dwell restarts at t=41
    assert e.update("bangkok", [sc("ADC", 50), sc("SJC", 46)], 40.0) is None
    for t in range(41, 71):
        assert e.update("bangkok", [sc("ADC", 50), sc("SJC", 44)], float(t)) is None
    switch = e.update("bangkok", [sc("ADC", 50), sc("SJC", 44)], 71.0)  # 41 + 30
    assert switch is not None
    assert (switch.cable, switch.kind) == ("SJC", "speed")
    assert switch.reason == "SJC faster than ADC by 6.0 ms for 30 s"


def test_holddown_keeps_a_repaired_cable_out_for_a_while() -> None:
    e = FailoverEngine(S)
    e.update("singapore", [sc("ADC", 31), sc("SJC", 36)], 0.0)
    e.update("singapore", [sc("ADC", None, False), sc("SJC", 36)], 5.0)  # cut: -> SJC
    # repaired at t=20 and 5 ms better (>= 5 ms and >= 10 % of 36): held until t=140 (clean
    # for 120 s), then the 30 s dwell runs from 140: the switch back is at t=170, not before
    for t in range(20, 170):
        assert e.update("singapore", [sc("ADC", 31), sc("SJC", 36)], float(t)) is None, t
    back = e.update("singapore", [sc("ADC", 31), sc("SJC", 36)], 170.0)
    assert back is not None
    assert (back.cable, back.kind) == ("ADC", "speed")
    assert e.switches == {"singapore": 2}


def test_a_flapping_cable_restarts_its_holddown() -> None:
    e = FailoverEngine(S)
    e.update("brunei", [sc("SJC", 27), sc("ADC", 48)], 0.0)
    e.update("brunei", [sc("SJC", None, False), sc("ADC", 48)], 1.0)  # -> ADC
    for t in range(2, 100):
        e.update("brunei", [sc("SJC", 27), sc("ADC", 48)], float(t))
    e.update("brunei", [sc("SJC", 27, clean=False), sc("ADC", 48)], 100.0)  # a blip
    for t in range(101, 251):
        assert e.update("brunei", [sc("SJC", 27), sc("ADC", 48)], float(t)) is None, t
    assert e.update("brunei", [sc("SJC", 27), sc("ADC", 48)], 251.0) is not None  # 101+120+30


def test_slow_is_not_lossy() -> None:
    """A path that is bad only because it is slow stays clean: the speed rule decides, with
    its dwell. A path bad because it loses packets is routed around at once."""
    slow = path_stats("tokyo", "ADC", "bad", 30.0, [(5, 5, 70.0, 1.0)] * 10, lossy=False)
    assert score(slow, None, 3.0).clean
    cut = path_stats("tokyo", "ADC", "bad", 30.0, [(5, 5, 31.0, 1.0)] * 9 + [(5, 0, None, None)],
                     lossy=True)  # fmt: skip
    assert cut.loss_pct == 10.0
    assert not score(cut, None, 3.0).clean


def slow(cable: str, ms: float) -> Score:
    """A clean score of a path its detector calls slow (a latency step, no loss)."""
    stats = PathStats("tokyo", cable, "bad", 10, ms, ms, 0.0, 0.0, 30.0)
    return Score(cable, ms, True, {}, stats)


def test_a_large_gain_switches_after_the_short_dwell_a_small_one_after_the_long() -> None:
    s = FailoverSettings(dwell_s=60.0, fast_dwell_s=5.0, fast_gain_ms=20.0, fast_gain_pct=50.0)
    e = FailoverEngine(s)
    e.update("tokyo", [sc("SJC", 35), sc("ADC", 39)], 0.0)  # initial: SJC
    # SJC's RTT doubles (70 ms) and its detector calls it slow: a gain of 31 ms, more than
    # 20 ms: 5 s of dwell
    assert e.update("tokyo", [slow("SJC", 70), sc("ADC", 39)], 10.0) is None
    assert e.update("tokyo", [slow("SJC", 70), sc("ADC", 39)], 14.0) is None
    fast = e.update("tokyo", [slow("SJC", 70), sc("ADC", 39)], 15.0)
    assert fast is not None
    assert (fast.cable, fast.kind) == ("ADC", "speed")
    # the same gain on a path that is not slow (noise): the long dwell
    e1 = FailoverEngine(s)
    e1.update("tokyo", [sc("SJC", 35), sc("ADC", 39)], 0.0)
    for t in range(10, 70):
        assert e1.update("tokyo", [sc("SJC", 70), sc("ADC", 39)], float(t)) is None, t
    # a small gain (6 ms, 15 %: more than the 5 ms / 10 % minimum) keeps the long dwell
    e2 = FailoverEngine(s)
    e2.update("tokyo", [sc("SJC", 35), sc("ADC", 39)], 0.0)
    for t in range(10, 70):
        assert e2.update("tokyo", [sc("SJC", 40), sc("ADC", 34)], float(t)) is None, t
    assert e2.update("tokyo", [sc("SJC", 40), sc("ADC", 34)], 70.0) is not None
    # 50 % of the current score is large too, even under 20 ms: 16 ms of 30
    e3 = FailoverEngine(s)
    e3.update("hong-kong", [sc("ADC", 12), sc("APCN-2", 13)], 0.0)
    e3.update("hong-kong", [slow("ADC", 30), sc("APCN-2", 14)], 1.0)
    assert e3.update("hong-kong", [slow("ADC", 30), sc("APCN-2", 14)], 6.0) is not None


def test_latency_over_the_recent_regime_loss_over_the_window() -> None:
    rounds = [(5, 5, 30.0, 0.5)] * 55 + [(5, 4, 60.0, 0.5)] * 5  # a step 5 rounds ago
    whole = path_stats("tokyo", "SJC", "bad", 29.0, rounds)
    assert whole.p50_ms == 30.0  # half a window would have to pass
    recent = path_stats("tokyo", "SJC", "bad", 29.0, rounds, latency_rounds=5)
    assert recent.p50_ms == 60.0
    assert recent.loss_pct == whole.loss_pct == pytest.approx(100 * 5 / 300)


def test_a_young_window_is_not_unclean_for_two_lost_packets() -> None:
    young = path_stats(
        "hcmc", "ADC", "good", 23.4, [(5, 5, 24.0, 0.3)] * 8 + [(5, 4, 24.0, 0.3)] * 2
    )
    assert young.loss_pct == 4.0  # 2 of 50 packets
    assert not score(young, None, 3.0).clean  # judged alone: more than 3 %
    assert score(young, None, 3.0, window_rounds=60).clean  # 2 of a full window's 300: 0.7 %
    full = path_stats(
        "hcmc", "ADC", "good", 23.4, [(5, 5, 24.0, 0.3)] * 50 + [(5, 4, 24.0, 0.3)] * 10
    )
    assert not score(full, None, 3.0, window_rounds=60).clean  # 10 of 300: 3.3 %
