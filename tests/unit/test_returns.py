"""The return cable tracker: confirmed after N rounds in a row, unknown says nothing."""

from __future__ import annotations

import pytest

from cablewatch.correlation.returns import ReturnSeen, ReturnTracker, describe


def _feed(tracker: ReturnTracker, backs: list[str], cable: str = "ADC") -> list[object]:
    return [tracker.observe(ReturnSeen("singapore", cable, float(i), b))
            for i, b in enumerate(backs)]  # fmt: skip


def test_a_return_cable_counts_once_confirmed_and_unknown_rounds_change_nothing() -> None:
    t = ReturnTracker(confirm=2)
    changes = _feed(t, ["ADC", "ADC", "SJC", "unknown", "ADC", "SJC", "SJC", "unknown", "SJC"])
    got = [(c.since_s, c.before, c.after) for c in changes if c is not None]  # type: ignore[attr-defined]
    assert got == [(0.0, None, "ADC"), (5.0, "ADC", "SJC")]
    assert t.asymmetric("singapore") == {"ADC": "SJC"}
    assert describe("singapore", t.asymmetric("singapore")) == (
        "singapore: out over ADC, back over SJC"
    )
    _feed(t, ["ADC", "ADC"])
    assert t.asymmetric("singapore") == {}


def test_confirm_must_be_positive() -> None:
    with pytest.raises(ValueError, match="confirm"):
        ReturnTracker(confirm=0)
