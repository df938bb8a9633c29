"""High availability in the lab (harness/ha.py): two `cablewatch serve` instances and two
Alertmanager replicas in a gossip cluster; during an ADC cut one serve instance is killed at
once, and the Alertmanager replica that notified the cable alert is killed after notifying.

The stand-ins must keep following recommendations (from the survivor), with a short gap; the
webhook receiver must get the cable alert exactly once and its resolution exactly once.
"""

from __future__ import annotations

import pytest
from lab_helpers import Lab

from cablewatch.harness.ha import HaRun, cable_notifications, ha_run
from cablewatch.lab import manager

pytestmark = [pytest.mark.netns, pytest.mark.servers]

API_GAP_S = 5.0


@pytest.fixture(scope="module")
def run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> HaRun:
    opts = manager.LabOptions(state_dir=lab.state_dir, prefix=lab.prefix)
    return ha_run(opts, tmp_path_factory.mktemp("ha"))


def test_stand_ins_move_off_the_cut_cable_on_the_survivors_word(run: HaRun) -> None:
    assert run.on_cut_cable, "no region was on ADC: nothing to show"
    _a, b = run.apis
    for region in run.on_cut_cable:
        moves = [r for r in run.records[region]
                 if r["kind"] == "switch" and r["t"] > run.cut and r["from"] == "ADC"]  # fmt: skip
        assert len(moves) == 1, (region, moves)
        assert moves[0]["api"] == b, (region, moves[0])
        assert moves[0]["t"] > run.serve_killed


def test_every_stand_in_moved_to_the_other_api_within_the_gap(run: HaRun) -> None:
    a, b = run.apis
    gaps = {}
    for region, records in run.records.items():
        failovers = [r for r in records if r["kind"] == "api_failover"]
        assert [(f["from"], f["to"]) for f in failovers] == [(a, b)], (region, failovers)
        assert failovers[0]["t"] >= run.serve_killed
        gaps[region] = failovers[0]["gap_s"]
    assert max(gaps.values()) <= API_GAP_S, gaps


def test_the_cable_alert_is_notified_once_and_resolved_once(run: HaRun) -> None:
    notes = cable_notifications(run.posts, "ADC")
    assert [s for s, _p, _t in notes] == ["firing", "resolved"], notes
    (_f, fired_by, fired_at), (_r, resolved_by, resolved_at) = notes
    # the replica that notified the alert was killed; the other one resolved it
    assert fired_by == f"/am-{run.am_killed}"
    assert resolved_by == f"/am-{1 - run.am_killed}"
    assert fired_at < run.am_killed_at < run.restore < resolved_at
