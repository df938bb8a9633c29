"""The closed loop in the lab (harness/loop.py): agents (ICMP every 0.2 s) -> InfluxDB ->
`cablewatch serve` (evaluator, failover, gateway API) -> a gateway stand-in in every region's
namespace, which moves the region's route to the service address onto the recommended cable
and measures the time to first token of the station's streaming API through it.

A noisy baseline (5 ms jitter, 0.5 % loss on every cable, 30 s) must not move anyone; an ADC
cut must move every region on ADC exactly once, back under its SLA within 10 s; the restore
must not move anyone back (hold-down).
"""

from __future__ import annotations

import pytest
from lab_helpers import Lab

from cablewatch.harness.loop import LoopRun, closed_loop, recoveries, switches
from cablewatch.lab import manager

pytestmark = [pytest.mark.netns, pytest.mark.servers]

RECOVER_S = 10.0


@pytest.fixture(scope="module")
def loop(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> LoopRun:
    opts = manager.LabOptions(state_dir=lab.state_dir, prefix=lab.prefix)
    return closed_loop(opts, tmp_path_factory.mktemp("loop"), interval_s=0.2, noise_s=30,
                       hold_s=RECOVER_S, after_restore_s=15, dwell_s=10, holddown_s=60)  # fmt: skip


def test_no_switch_during_the_noisy_baseline(loop: LoopRun) -> None:
    assert loop.noise[1] - loop.noise[0] >= 30
    for region in loop.records:
        assert switches(loop, region, *loop.noise) == [], region


def test_cut_moves_each_affected_region_once_and_back_under_sla(loop: LoopRun) -> None:
    assert len(loop.on_cut_cable) >= 2, loop.on_cut_cable  # e.g. bangkok, ho-chi-minh-city
    for region in loop.on_cut_cable:
        moves = switches(loop, region, loop.cut, loop.end)
        assert len(moves) == 1, (region, moves)  # at most one switch per region per event
        assert moves[0]["from"] == "ADC"
        assert moves[0]["rec_kind"] == "fault"
    times = recoveries(loop)
    assert set(times) == set(loop.on_cut_cable)
    for region, t in times.items():
        assert 0 < t["recommended_s"] <= t["switched_s"] <= t["recovered_s"] <= RECOVER_S, (
            region, t)  # fmt: skip
        assert t["ttft_before_ms"] > 0
        assert t["ttft_after_ms"] > 0
        print(f"{region:18} recommended {t['recommended_s']:.2f} s, switched "
              f"{t['switched_s']:.2f} s, back under SLA {t['recovered_s']:.2f} s after the cut; "
              f"TTFT median {t['ttft_before_ms']:.1f} -> {t['ttft_after_ms']:.1f} ms")  # fmt: skip


def test_regions_elsewhere_do_not_move(loop: LoopRun) -> None:
    for region in loop.records:
        if region not in loop.on_cut_cable:
            assert switches(loop, region, loop.cut, loop.end) == [], region


def test_restore_does_not_pull_traffic_back_within_holddown(loop: LoopRun) -> None:
    for region in loop.records:
        assert switches(loop, region, loop.restore, loop.end) == [], region
