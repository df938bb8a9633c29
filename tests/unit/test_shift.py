"""Baseline shifts (correlation/shift.py): a lasting move of a few milliseconds is raised
once, with its size and start; it resolves when it moves back or is accepted; jitter and loss
alone raise nothing, and a fault-sized step is left to the fault detector."""

from __future__ import annotations

import random

import pytest

from cablewatch.correlation.shift import PathShift, ShiftChange, ShiftSettings

pytestmark = pytest.mark.unit

FLOOR_MS = 60.0


def _round_min(rng: random.Random, extra_ms: float, jitter_ms: float = 5.0,
               loss: float = 0.005) -> float | None:  # fmt: skip
    """A round's minimum RTT: 5 packets, each direction's delay plus |N(0, jitter)| (the lab's
    emulator), each packet lost with ``loss``."""
    got = [FLOOR_MS + extra_ms + abs(rng.gauss(0, jitter_ms)) + abs(rng.gauss(0, jitter_ms))
           for _ in range(5) if rng.random() >= loss]  # fmt: skip
    return min(got) if got else None


def _run(shift: PathShift, rng: random.Random, rounds: range,
         extra: float) -> list[tuple[int, ShiftChange]]:  # fmt: skip
    out = []
    for t in rounds:
        change = shift.observe(float(t), _round_min(rng, extra), fault_ms=15.0)
        if change is not None:
            out.append((t, change))
    return out


def test_ten_minutes_of_jitter_and_loss_raise_nothing() -> None:
    for seed in range(5):
        shift = PathShift(ShiftSettings())
        assert _run(shift, random.Random(seed), range(600), 0.0) == []


def test_a_3_ms_step_is_raised_within_a_minute_with_its_size_and_start() -> None:
    rng = random.Random(1)
    shift = PathShift(ShiftSettings())
    assert _run(shift, rng, range(0, 300), 0.0) == []
    [(t, change)] = _run(shift, rng, range(300, 400), 3.1)
    assert change.kind == "raised"
    assert t - 300 <= 60  # detected within 60 s at 1 s rounds
    # the start and the size, within the level's noise at 5 ms of jitter (measured over 300
    # seeds: the start 10 s early to 40 s late, median 4 s late; the size's sd 0.32 ms)
    assert -12 <= change.since_s - 300 <= 42
    assert abs(change.delta_ms - 3.1) <= 1.6


def test_it_resolves_when_the_level_moves_back() -> None:
    rng = random.Random(2)
    shift = PathShift(ShiftSettings())
    _run(shift, rng, range(0, 300), 0.0)
    assert [c.kind for _t, c in _run(shift, rng, range(300, 400), 3.5)] == ["raised"]
    [(_t, back)] = _run(shift, rng, range(400, 500), 0.0)
    assert (back.kind, back.reason) == ("resolved", "moved back")


def test_accepted_it_becomes_the_baseline_and_is_not_raised_again() -> None:
    rng = random.Random(3)
    shift = PathShift(ShiftSettings())
    _run(shift, rng, range(0, 300), 0.0)
    assert [c.kind for _t, c in _run(shift, rng, range(300, 400), 4.0)] == ["raised"]
    before = shift.baseline_ms
    accepted = shift.accept()
    assert accepted is not None
    assert (accepted.kind, accepted.reason) == ("resolved", "accepted")
    assert shift.baseline_ms is not None
    assert before is not None
    assert 3.0 <= shift.baseline_ms - before <= 5.0
    assert _run(shift, rng, range(400, 700), 4.0) == []
    assert shift.accept() is None  # nothing open to accept


def test_left_alone_it_becomes_the_new_normal_after_accept_after_s() -> None:
    rng = random.Random(4)
    shift = PathShift(ShiftSettings(accept_after_s=120.0))
    _run(shift, rng, range(0, 300), 0.0)
    changes = _run(shift, rng, range(300, 600), 4.0)
    assert [(c.kind, c.reason) for _t, c in changes] == [("raised", ""), ("resolved", "new normal")]


def test_a_fault_sized_step_is_the_fault_detectors_not_a_shift() -> None:
    rng = random.Random(5)
    shift = PathShift(ShiftSettings())
    _run(shift, rng, range(0, 300), 0.0)
    assert _run(shift, rng, range(300, 500), 40.0) == []  # fault_ms 15: the detector's
