"""Fault detection and correlation on exact timelines (pure: no network)."""

from __future__ import annotations

import random

from cablewatch.config import load_default
from cablewatch.correlation.classify import Finding, PathKey, PathStatus, classify
from cablewatch.correlation.detector import PathDetector, Round
from cablewatch.correlation.events import EventTracker
from cablewatch.correlation.settings import DetectionSettings

S = DetectionSettings()  # loss test 2 % vs 25 %; latency enter 2, leave 3, step 10 ms / 25 %
REGIONS = ("singapore", "jakarta", "tokyo")
CABLES = ("ADC", "SJC", "APCN-2")


def rnd(t: float, received: int = 5, median: float | None = 30.0) -> Round:
    return Round("singapore", "ADC", t, 5, received, median if received else None)


def test_latency_hysteresis_enter_after_two_slow_leave_after_three_fast() -> None:
    d = PathDetector(floor_ms=29.0, settings=S)
    states, since = [], []
    # 10 fast, 1 slow (a blip), 1 fast, 3 slow, 2 fast, 1 slow, 3 fast
    pattern = [30.0] * 10 + [90.0] + [30.0] + [90.0] * 3 + [30.0] * 2 + [90.0] + [30.0] * 3
    for t, median in enumerate(pattern):
        states.append(d.observe(rnd(t, median=median)).state)
        since.append(d.since_s)
    assert states[10] == "good"  # one slow round is a blip
    assert states[12] == "good"
    assert states[13] == "bad"  # the second slow round in a row
    assert since[13] == 12  # the run that changed the state began at round 12
    assert states[14:20] == ["bad"] * 6  # 2 fast rounds, then a slow one: the count restarts
    assert states[20] == "good"  # the third fast round in a row
    assert d.since_s == 18
    assert not d.lossy


def test_six_lost_packets_are_enough_one_lost_round_is_not() -> None:
    d = PathDetector(29.0, S)
    for t in range(10):
        d.observe(rnd(t))
    assert d.observe(rnd(10, received=0)).state == "good"  # one lost round: 12.6 < 13.8
    for t in range(11, 30):
        d.observe(rnd(t))  # the evidence drains: 1.34 a good round
    assert d.loss.up == 0.0
    assert d.observe(rnd(30, received=4)).state == "good"  # one packet lost
    assert d.observe(rnd(31, received=3)).state == "good"  # two more
    cut = d.observe(rnd(32, received=0))  # 8 of 15 lost: e^13.8 times likelier under 25 %
    assert (cut.state, cut.changed, cut.reasons) == ("bad", True, ("loss",))
    assert d.lossy
    assert d.since_s == 30  # the evidence began with the first lost packet
    back = [d.observe(rnd(t)).state for t in range(33, 40)]
    # 26 good packets (e^6.9 the other way) bring it back: the sixth round
    assert back == ["bad"] * 5 + ["good"] * 2


def _lossy_rounds(loss: float, rounds: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    d = PathDetector(29.0, S)
    out: list[str] = []
    for t in range(rounds):
        got = sum(rng.random() >= loss for _ in range(5))
        out.append(d.observe(rnd(t, received=got, median=30.0)).state)
    return out


def test_sustained_30_percent_loss_is_one_steady_bad_state() -> None:
    for seed in range(20):  # 20 paths x 600 rounds (10 minutes at 1 s)
        states = _lossy_rounds(0.30, 600, seed)
        first = states.index("bad")
        assert first <= 15, (seed, first)
        assert states[first:] == ["bad"] * (600 - first), seed  # never back to good: no flap


def test_half_a_percent_of_random_loss_never_turns_a_path_bad() -> None:
    for seed in range(20):  # 20 paths x 3,000 rounds of 5 packets
        assert "bad" not in _lossy_rounds(0.005, 3000, seed), seed


def test_step_over_the_baseline_and_stretch_over_the_floor() -> None:
    d = PathDetector(29.0, S)
    assert d.judge(rnd(0, median=60.0)) == ("stretch",)  # no baseline yet; 60 > 1.6*29+10
    for t in range(5):
        d.observe(rnd(t, median=30.0 + t % 2))
    assert d.baseline_ms == 30.0
    assert d.judge(rnd(9, median=40.0)) == ()  # +10 ms is not above 10 ms
    assert d.judge(rnd(9, median=40.5)) == ("step",)
    big = PathDetector(100.0, S)
    for t in range(5):
        big.observe(Round("tokyo", "ADC", t, 5, 5, 100.0))
    assert big.judge(Round("tokyo", "ADC", 9, 5, 5, 124.0)) == ()  # 25 % of 100 = 25
    assert big.judge(Round("tokyo", "ADC", 9, 5, 5, 126.0)) == ("step",)


def test_bad_rounds_do_not_move_the_baseline() -> None:
    d = PathDetector(29.0, S)
    for t in range(10):
        d.observe(rnd(t, median=30.0))
    for t in range(10, 200):
        d.observe(rnd(t, median=90.0))
    assert d.baseline_ms == 30.0
    assert d.state == "bad"


def status(
    bad: set[PathKey], unknown: frozenset[PathKey] = frozenset()
) -> dict[PathKey, PathStatus]:
    out: dict[PathKey, PathStatus] = {}
    for r in REGIONS:
        for c in CABLES:
            out[(r, c)] = "unknown" if (r, c) in unknown else ("bad" if (r, c) in bad else "good")
    return out


def test_classify_cable_region_station_path_probe() -> None:
    cut_adc = {(r, "ADC") for r in REGIONS}
    assert classify(status(cut_adc), "shantou") == [
        Finding("cable", "ADC", tuple((r, "ADC") for r in REGIONS), cable="ADC")
    ]
    jakarta = {("jakarta", c) for c in CABLES}
    assert classify(status(jakarta), "shantou") == [
        Finding("region", "jakarta", tuple(("jakarta", c) for c in CABLES), region="jakarta")
    ]
    everything = {(r, c) for r in REGIONS for c in CABLES}
    [station] = classify(status(everything), "shantou")
    assert (station.scope, station.subject, len(station.paths)) == ("station", "shantou", 9)
    one = {("jakarta", "SJC")}
    assert classify(status(one), "shantou") == [
        Finding("path", "jakarta/SJC", (("jakarta", "SJC"),), cable="SJC", region="jakarta")
    ]
    # ADC bad in one region only, and that region's other cables fine: a path, not a cable
    assert [f.scope for f in classify(status({("tokyo", "ADC")}), "shantou")] == ["path"]
    # a region without data is a probe gap, and does not make the others look like a station
    gone = frozenset(("tokyo", c) for c in CABLES)
    found = classify(status(cut_adc - {("tokyo", "ADC")}, gone), "shantou")
    assert [(f.scope, f.subject) for f in found] == [("probe", "tokyo"), ("cable", "ADC")]


def test_a_cut_of_the_cable_replies_come_back_over_is_that_cable_not_the_region() -> None:
    """Singapore's replies all come back over SJC; SJC is cut: every SJC path is bad, and so
    are singapore's ADC and APCN-2 paths. Without the way back that is an SJC fault for the
    others and a region fault for singapore; with it, one SJC finding holding singapore's
    three paths."""
    cut = {(r, "SJC") for r in REGIONS} | {("singapore", c) for c in CABLES}
    returns = {("singapore", c): "SJC" for c in CABLES} | {
        (r, c): c for r in REGIONS if r != "singapore" for c in CABLES}  # fmt: skip
    blind = classify(status(cut), "shantou")
    assert [(f.scope, f.subject) for f in blind] == [("cable", "SJC"), ("region", "singapore")]
    [found] = classify(status(cut), "shantou", returns=returns)
    assert (found.scope, found.subject) == ("cable", "SJC")
    assert set(found.paths) == cut
    # replies over SJC but SJC fine for singapore: ADC's loss is ADC's (a path fault)
    one = {("singapore", "ADC")}
    assert [(f.scope, f.subject) for f in classify(status(one), "shantou", returns=returns)] == [
        ("path", "singapore/ADC")
    ]


def test_a_cut_raises_one_cable_event_not_one_per_region() -> None:
    tracker = EventTracker(settle_s=4.0)
    # t=10: singapore sees ADC bad first: a path finding, pending (not raised)
    assert tracker.update(classify(status({("singapore", "ADC")}), "shantou"),
                          status({("singapore", "ADC")}), 10.0) == []  # fmt: skip
    assert list(tracker.pending) == [("path", "singapore/ADC")]
    # t=11: jakarta too: a cable fault, raised at once; the pending path event is absorbed
    two = {("singapore", "ADC"), ("jakarta", "ADC")}
    [raised] = tracker.update(classify(status(two), "shantou"), status(two), 11.0)
    assert (raised.kind, raised.event.scope, raised.event.subject) == ("raised", "cable", "ADC")
    assert tracker.pending == {}
    # t=12..30: all three bad; nothing new
    cut = {(r, "ADC") for r in REGIONS}
    for t in range(12, 31):
        assert tracker.update(classify(status(cut), "shantou"), status(cut), float(t)) == []
    assert tracker.open[("cable", "ADC")].paths == cut
    # t=31: restore; tokyo is good first, then jakarta; singapore lags: the last bad path
    # stays in the cable event instead of becoming a path event of its own
    assert tracker.update(classify(status(cut - {("tokyo", "ADC")}), "shantou"),
                          status(cut - {("tokyo", "ADC")}), 31.0) == []  # fmt: skip
    last = {("singapore", "ADC")}
    for t in range(32, 40):
        assert tracker.update(classify(status(last), "shantou"), status(last), float(t)) == []
    assert tracker.pending == {}
    [resolved] = tracker.update([], status(set()), 40.0)
    assert (resolved.kind, resolved.event.subject) == ("resolved", "ADC")
    assert (resolved.event.raised_s, resolved.event.resolved_s) == (11.0, 40.0)
    assert tracker.open == {}


def test_a_path_fault_is_raised_after_settling() -> None:
    tracker = EventTracker(settle_s=4.0)
    one = {("jakarta", "SJC")}
    raised = []
    for t in range(10, 20):
        raised += tracker.update(classify(status(one), "shantou"), status(one), float(t))
    assert [(r.kind, r.event.scope, r.event.subject) for r in raised] == [
        ("raised", "path", "jakarta/SJC")
    ]
    assert raised[0].event.raised_s == 14.0  # first seen at 10, settle 4 s


def test_a_blip_shorter_than_settling_raises_nothing() -> None:
    tracker = EventTracker(settle_s=4.0)
    one = {("jakarta", "SJC")}
    out = []
    for t in range(10, 13):
        out += tracker.update(classify(status(one), "shantou"), status(one), float(t))
    for t in range(13, 30):
        out += tracker.update([], status(set()), float(t))
    assert out == []


def test_unknown_paths_keep_an_event_open() -> None:
    tracker = EventTracker(settle_s=4.0)
    cut = {(r, "ADC") for r in REGIONS}
    tracker.update(classify(status(cut), "shantou"), status(cut), 1.0)
    dark = frozenset((r, "ADC") for r in REGIONS)
    assert tracker.update([], status(set(), dark), 2.0) == []  # no evidence of repair
    assert ("cable", "ADC") in tracker.open


def test_noisy_baseline_never_raises() -> None:
    """27 paths x 600 rounds of 5 packets with 5 ms half-normal jitter each way and 0.5 %
    loss per packet, as the lab's noisy baseline: no event."""
    rng = random.Random(11)
    regions = [f"r{i}" for i in range(9)]
    paths = {(r, c): 20.0 + 5 * i + 2 * j for i, r in enumerate(regions)
             for j, c in enumerate(CABLES)}  # fmt: skip
    detectors = {p: PathDetector(f, S) for p, f in paths.items()}
    tracker = EventTracker(settle_s=4.0)
    events = []
    for k in range(600):
        for (region, cable), det in detectors.items():
            rtts = [
                det.floor_ms + abs(rng.gauss(0, 5)) + abs(rng.gauss(0, 5))
                for _ in range(5)
                if rng.random() >= 0.005
            ]
            median = sorted(rtts)[len(rtts) // 2] if rtts else None
            det.observe(Round(region, cable, k, 5, len(rtts), median))
        states = {p: d.state for p, d in detectors.items()}
        events += tracker.update(classify(states, "shantou"), states, float(k))
    assert events == []


def test_a_silent_region_is_a_probe_gap_not_a_fault() -> None:
    tracker = EventTracker(settle_s=4.0)
    dark = frozenset(("tokyo", c) for c in CABLES)
    out = []
    for t in range(10, 16):
        out += tracker.update(classify(status(set(), dark), "shantou"), status(set(), dark),
                              float(t))  # fmt: skip
    assert [(o.kind, o.event.scope, o.event.subject) for o in out] == [("raised", "probe", "tokyo")]
    assert out[0].event.raised_s == 14.0
    [back] = tracker.update([], status(set()), 16.0)  # rounds again, all good
    assert (back.kind, back.event.scope) == ("resolved", "probe")


def test_lossy_tells_a_cut_from_a_slow_path() -> None:
    cut = PathDetector(29.0, S)
    for t in range(10):
        cut.observe(rnd(t))
    cut.observe(rnd(10, received=0))
    cut.observe(rnd(11, received=0))
    assert (cut.state, cut.lossy) == ("bad", True)
    slow = PathDetector(29.0, S)
    for t in range(10):
        slow.observe(rnd(t))
    for t in range(10, 12):
        slow.observe(rnd(t, median=80.0))
    assert (slow.state, slow.lossy) == ("bad", False)
    for t in range(12, 18):  # the cut heals into a slow path: still bad, no longer lossy
        cut.observe(rnd(t, median=80.0))
    assert (cut.state, cut.lossy) == ("bad", False)


# -- localising the fault with the topology's landing points ---------------------------------

TOPOLOGY = load_default().topology
LANDING = {(r.id, c): p.landing_point for r in TOPOLOGY.regions for c, p in r.paths.items()
           if p.landing_point}  # fmt: skip
ALL = [r.id for r in TOPOLOGY.regions]


def shantou(bad: set[PathKey]) -> list[Finding]:
    states: dict[PathKey, PathStatus] = {
        (r, c): "bad" if (r, c) in bad else "good" for r in ALL for c in CABLES
    }
    return classify(states, "shantou", station_name="Shantou", landing_points=LANDING)


def test_a_minority_through_different_landing_points_is_partial_not_the_cable() -> None:
    [found] = shantou({("jakarta", "ADC"), ("bangkok", "ADC")})  # Tuas and Sriracha
    assert (found.scope, found.subject, found.cable) == ("partial", "ADC", "ADC")
    assert sorted(found.paths) == [("bangkok", "ADC"), ("jakarta", "ADC")]
    assert len(found.healthy) == 7


def test_every_region_of_one_landing_point_is_a_segment() -> None:
    tuas = {(r, "ADC") for r in ("singapore", "jakarta", "kuala-lumpur", "brunei")}
    [found] = shantou(tuas)
    assert (found.scope, found.subject, found.landing_point) == (
        "segment", "ADC Tuas-Shantou", "Tuas",
    )  # fmt: skip
    assert set(found.paths) == tuas
    assert len(found.healthy) == 5
    # SJC joins five of the nine regions at Tuas: a majority, and still exactly a segment
    sjc_tuas = {(r, "SJC") for r in ALL if LANDING[(r, "SJC")] == "Tuas"}
    [found] = shantou(sjc_tuas)
    assert (len(sjc_tuas), found.scope, found.subject) == (5, "segment", "SJC Tuas-Shantou")
    # a segment and one more region: the segment, and the other region alone is a path
    katong = {(r, "APCN-2") for r in ALL if LANDING[(r, "APCN-2")] == "Katong"}
    [seg, path] = shantou(katong | {("tokyo", "APCN-2")})
    assert (len(katong), seg.scope, seg.subject) == (3, "segment", "APCN-2 Katong-Shantou")
    assert (path.scope, path.subject) == ("path", "tokyo/APCN-2")
    # but the same with a majority of the cable's regions is the cable, seen by most
    [found] = shantou(tuas | {("manila", "ADC")})
    assert found.scope == "cable"


def test_the_whole_cable_or_most_of_it_is_the_cable() -> None:
    cut = {(r, "ADC") for r in ALL}
    [found] = shantou(cut)
    assert (found.scope, found.subject, found.healthy) == ("cable", "ADC", ())
    most = {(r, "ADC") for r in ("singapore", "bangkok", "manila", "tokyo", "hong-kong")}
    [found] = shantou(most)  # 5 of 9, not whole landing points: the cable, seen by most
    assert (found.scope, len(found.healthy)) == ("cable", 4)


def test_most_regions_losing_one_whole_round_turn_bad_at_once() -> None:
    """One lost round is not enough evidence for one path (5 x 2.53 < 13.8), but six of nine
    regions losing it in the same round is."""
    from cablewatch.evaluator.detection import Detection

    detection = Detection(load_default())
    for t in range(20):
        for r in ALL:
            for c in CABLES:
                detection.observe(Round(r, c, 1000.0 + t, 5, 5, 30.0))
    lost = ALL[:6]
    for r in ALL:
        for c in CABLES:
            got = 0 if c == "ADC" and r in lost else 5
            detection.observe(Round(r, c, 1020.5 if r in lost else 1020.0, 5, got, 30.0))
    assert all(detection.detectors[(r, "ADC")].state == "good" for r in lost)
    turned = detection.agree(1021.0)
    assert sorted(turned) == sorted((r, "ADC") for r in lost)
    assert all(detection.detectors[(r, "ADC")].lossy for r in lost)
    # two regions are not most of nine: nothing turns
    d2 = Detection(load_default())
    for r in ALL:
        d2.observe(Round(r, "SJC", 1000.0, 5, 0 if r in ALL[:2] else 5, 30.0))
    assert d2.agree(1001.0) == []


def test_a_region_that_lost_part_of_the_cut_round_joins_the_agreement() -> None:
    from cablewatch.evaluator.detection import Detection

    detection = Detection(load_default())
    for r in ALL:
        for c in CABLES:
            detection.observe(Round(r, c, 1000.0, 5, 5, 30.0))
    for i, r in enumerate(ALL):  # six lose the whole round, one loses 3 of 5, two lose nothing
        got = 0 if i < 6 else (2 if i == 6 else 5)
        detection.observe(Round(r, "ADC", 1001.0, 5, got, 30.0))
    turned = detection.agree(1001.5)
    assert sorted(turned) == sorted((r, "ADC") for r in ALL[:7])
    assert not detection.detectors[(ALL[7], "ADC")].lossy
