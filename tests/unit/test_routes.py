"""Route changes of a service path (pure): confirmed by consecutive traces, silent hops and
unreached traces are not changes."""

from __future__ import annotations

from cablewatch.correlation.routes import RouteTracker, TraceSeen, same_route

ADC = ("198.18.16.2", "198.18.0.2", "198.19.0.1")
SJC = ("198.18.32.2", "198.18.0.6", "198.19.0.1")


def _t(s: float, cable: str, hops: tuple[str, ...], rtt: float = 30.0, reached: bool = True
       ) -> TraceSeen:  # fmt: skip
    return TraceSeen("jakarta", s, cable, hops, rtt, reached)


def test_a_change_counts_after_two_traces_in_a_row() -> None:
    tr = RouteTracker(confirm=2)
    assert tr.observe(_t(0, "ADC", ADC, 42.0)) is None  # the first trace sets the route
    assert tr.observe(_t(60, "SJC", SJC, 45.6)) is None  # one trace: not yet
    change = tr.observe(_t(120, "SJC", SJC, 45.7))
    assert change is not None
    assert (change.time_s, change.before.cable, change.after.cable) == (60, "ADC", "SJC")
    assert change.rtt_step_ms == 3.7
    assert change.summary == "region jakarta: service route moved from ADC to SJC (RTT +3.7 ms)"
    assert tr.current["jakarta"].cable == "SJC"
    assert tr.observe(_t(180, "SJC", SJC)) is None  # settled


def test_a_one_off_detour_and_a_flapping_candidate_are_not_changes() -> None:
    tr = RouteTracker(confirm=2)
    tr.observe(_t(0, "ADC", ADC))
    assert tr.observe(_t(60, "SJC", SJC)) is None
    assert tr.observe(_t(120, "ADC", ADC)) is None  # back: the detour never counted
    assert tr.observe(_t(180, "SJC", SJC)) is None  # counting starts over
    other = ("198.18.48.2", "198.18.0.10", "198.19.0.1")
    assert tr.observe(_t(240, "APCN-2", other)) is None  # a different new route: over again
    assert tr.observe(_t(300, "APCN-2", other)) is not None


def test_silent_hops_match_and_unreached_traces_say_nothing() -> None:
    assert same_route(_t(0, "ADC", ADC), _t(1, "ADC", ("198.18.16.2", "*", "198.19.0.1")))
    assert not same_route(_t(0, "ADC", ADC), _t(1, "ADC", ADC[:2]))
    tr = RouteTracker(confirm=2)
    tr.observe(_t(0, "ADC", ADC))
    cut = ("198.18.16.2", "*", "*", "*")
    assert tr.observe(_t(60, "ADC", cut, reached=False)) is None
    assert tr.observe(_t(120, "ADC", cut, reached=False)) is None  # a cut is not a route change
    assert tr.current["jakarta"].hops == ADC


def test_same_cable_new_hops_is_a_change_too() -> None:
    tr = RouteTracker(confirm=1)
    tr.observe(_t(0, "ADC", ADC))
    change = tr.observe(_t(60, "ADC", ("198.18.16.2", "198.18.0.99", "198.19.0.1")))
    assert change is not None
    assert change.summary.startswith("region jakarta: service route changed hops on ADC")
