"""The agent's falling-behind log line: once at the first skip, then at most once a period."""

from __future__ import annotations

from cablewatch.agent.behind import Behind


def test_first_skip_is_said_at_once_then_once_a_period_with_the_count_since() -> None:
    b = Behind(every_s=60.0)
    first = b.skipped(3, 100.0, jobs=10_000)
    assert first is not None
    assert "3 rounds skipped just now (10000 probe jobs)" in first
    assert b.skipped(500, 110.0, jobs=10_000) is None  # within the period: counted, not said
    assert b.skipped(0, 170.0, jobs=10_000) is None  # nothing skipped: nothing to say
    line = b.skipped(7, 161.0, jobs=10_000)
    assert line is not None
    assert "507 rounds skipped in the last 61 s" in line
    assert b.skipped(1, 200.0, jobs=10_000) is None
    line = b.skipped(1, 230.0, jobs=10_000)
    assert line is not None
    assert "2 rounds skipped in the last 69 s" in line  # since the last line, not the first skip


def test_one_round_is_one_round() -> None:
    line = Behind().skipped(1, 5.0, jobs=3)
    assert line is not None
    assert "1 round skipped just now (3 probe jobs)" in line
