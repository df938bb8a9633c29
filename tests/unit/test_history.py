"""The evaluator's compact round history: a ring that keeps the newest rounds, exactly."""

from __future__ import annotations

import pytest

from cablewatch.evaluator.history import RoundHistory

pytestmark = pytest.mark.unit


def test_the_ring_keeps_the_newest_rounds_in_order_exactly() -> None:
    h = RoundHistory(4)
    assert len(h) == 0
    assert h.last(3) == []
    for k in range(10):
        h.append((5, 5 - k % 2, None if k == 8 else 30.0 + k / 3, 0.1 * k), 1000.0 + k)
    assert len(h) == 4
    assert [h.time(k) for k in range(4)] == [1006.0, 1007.0, 1008.0, 1009.0]
    assert h.time(-1) == 1009.0
    assert h.time(-4) == 1006.0
    assert h.last(2) == [(5, 5, None, 0.1 * 8), (5, 4, 30.0 + 9 / 3, 0.1 * 9)]
    assert h.last(10) == [h[k] for k in range(4)]
    assert h[0] == (5, 5, 30.0 + 6 / 3, 0.1 * 6)


def test_counts_past_16_bits_are_capped_not_wrapped() -> None:
    h = RoundHistory(2)
    h.append((70000, 69999, 1.0, None), 1.0)
    assert h[-1] == (65535, 65535, 1.0, None)
