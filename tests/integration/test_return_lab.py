"""Faults blamed on the way back, end to end in the lab (root; CI is root): singapore's
replies come back over SJC (`lab reroute singapore --via SJC --return`); agents probe ICMP and
STAMP every second, `cablewatch serve` posts to a real Alertmanager (harness/returns.py).
Cutting SJC must be one SJC cable alert that names singapore's ADC and APCN-2 paths as coming
back over it: no ADC fault, no region fault for singapore, and singapore not moved."""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_helpers import Lab

from cablewatch.harness.returns import return_cut
from cablewatch.lab import manager

pytestmark = [pytest.mark.netns, pytest.mark.servers]


def test_a_cut_of_the_cable_replies_come_back_over_is_blamed_on_it(
    lab: Lab, tmp_path: Path
) -> None:
    opts = manager.LabOptions(state_dir=lab.state_dir, prefix=lab.prefix)
    got = return_cut(opts, tmp_path, region="singapore", back="SJC")
    assert got.asymmetric == (
        "singapore: out over ADC, back over SJC; out over APCN-2, back over SJC"
    )
    assert list(got.faults) == [("CablewatchCableFault", "SJC")], got.faults
    assert got.faults[("CablewatchCableFault", "SJC")] == (
        "cable SJC: 9 of 9 regions lose packets or are slow over it (the whole cable); "
        "replies come back over it for singapore out over ADC and APCN-2"
    )
    assert got.after["singapore"] == got.before["singapore"], (got.before, got.after)
    # the regions recommended SJC were moved off it; singapore had nowhere to go
    moved = {r for r in got.before if got.after.get(r) != got.before[r]}
    assert moved == {r for r, c in got.before.items() if c == "SJC" and r != "singapore"}
    assert got.blamed_right
    back = lab.status()["return_routes"]["singapore"]
    assert back == {"ADC": "ADC", "SJC": "SJC", "APCN-2": "APCN-2"}  # symmetric again
