"""Round statistics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from cablewatch.probes.stats import mean_abs_ipdv, rfc3550_jitter, summarize
from cablewatch.values import percentile

# 10, 12, lost, 11, 15 ms
ROUND = [10.0, 12.0, None, 11.0, 15.0]


def test_summary_of_a_round_with_one_loss() -> None:
    s = summarize(ROUND)
    assert (s.sent, s.received) == (5, 4)
    assert s.loss_pct == 20.0
    assert (s.min_ms, s.max_ms) == (10.0, 15.0)
    assert s.avg_ms == 12.0  # 48 / 4
    assert s.median_ms == 11.5  # of 10, 11, 12, 15
    # population deviation: squares 4, 0, 1, 9 -> 14 / 4 = 3.5
    assert s.stddev_ms == pytest.approx(math.sqrt(3.5), abs=1e-12)


def test_rfc3550_jitter_over_consecutive_received_packets() -> None:
    # received 10, 12, 11, 15 -> |D| = 2, 1, 4; J += (|D| - J) / 16 from J = 0
    j1 = 2 / 16  # 0.125
    j2 = j1 + (1 - j1) / 16  # 0.1796875
    j3 = j2 + (4 - j2) / 16  # 0.41845703125
    assert j3 == 0.41845703125
    assert rfc3550_jitter(ROUND) == pytest.approx(j3, abs=1e-15)


def test_ipdv_skips_pairs_with_a_lost_packet() -> None:
    # pairs (10,12)=2 and (11,15)=4; (12,lost) and (lost,11) have no IPDV
    assert mean_abs_ipdv(ROUND) == 3.0


def test_full_loss_has_no_delay_figures() -> None:
    s = summarize([None, None, None])
    assert (s.sent, s.received, s.loss_pct) == (3, 0, 100.0)
    assert s.min_ms is s.avg_ms is s.median_ms is s.max_ms is s.stddev_ms is None
    assert s.jitter_ms is None
    assert s.ipdv_ms is None


def test_single_reply() -> None:
    s = summarize([5.0])
    assert (s.min_ms, s.avg_ms, s.max_ms, s.stddev_ms) == (5.0, 5.0, 5.0, 0.0)
    assert s.jitter_ms is None
    assert s.ipdv_ms is None


def test_telegraf_field_names_beside_ours() -> None:
    fields = summarize(ROUND).fields()
    assert fields["packets_transmitted"] == 5
    assert fields["packets_received"] == 4
    assert fields["percent_packet_loss"] == 20.0
    assert fields["minimum_response_ms"] == 10.0
    assert fields["average_response_ms"] == 12.0
    assert fields["maximum_response_ms"] == 15.0
    assert fields["standard_deviation_ms"] == fields["stddev_ms"]
    assert fields["loss_pct"] == 20.0


def test_percentile_interpolates_linearly() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 90) == pytest.approx(3.7)
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
