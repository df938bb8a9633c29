"""High availability, in a lab of its own (harness/ha.py): two `cablewatch serve` instances on one
InfluxDB and two Alertmanager replicas in a gossip cluster, agents probing every 0.2 s; the
gateway stand-ins ask serve A, then B. During an ADC cut, A is killed at once and the
Alertmanager replica that notified the cable alert is killed after notifying; then ADC is
restored.

Figures, over --runs runs:
- api_gap_s: the longest time any stand-in went without an answer from the API (from A's last
  answer to B's first), the worst run;
- duplicate_notifications: notifications of the cable alert beyond one firing and one
  resolution, summed over runs;
- lost_notifications: of those two per run, how many never came, summed.
Beside them: for how many regions A and B recommended the same cable just before the cut
(they decide from the same rounds, but each from its own poll times).

Needs root. The last line holds the headline figures:

    api_gap_s=X duplicate_notifications=N lost_notifications=M
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from cablewatch.config import load_default
from cablewatch.harness.ha import cable_notifications, ha_run
from cablewatch.lab import manager


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-ha-"))
    opts = manager.LabOptions(state_dir=tmp / "lab", prefix="cwh", mgmt_subnet="198.18.246.0/24")
    manager.up(load_default(), opts)
    gaps: list[float] = []
    duplicates = lost = 0
    agreed: list[int] = []
    try:
        for k in range(args.runs):
            print(f"run {k + 1} of {args.runs}", flush=True)
            run = ha_run(opts, tmp / f"run-{k}", say=lambda text: print("  " + text, flush=True))
            gap = max(r["gap_s"] for rs in run.records.values() for r in rs
                      if r["kind"] == "api_failover")  # fmt: skip
            moved = sum(1 for region in run.on_cut_cable
                        if any(r["kind"] == "switch" and r["t"] > run.cut and r["from"] == "ADC"
                               for r in run.records[region]))  # fmt: skip
            notes = [s for s, _p, _t in cable_notifications(run.posts, "ADC")]
            agreed.append(sum(a == b for a, b in run.choices.values()))
            firing, resolved = notes.count("firing"), notes.count("resolved")
            duplicates += max(0, firing - 1) + max(0, resolved - 1)
            lost += int(firing == 0) + int(resolved == 0)
            gaps.append(gap)
            print(
                f"  API gap {gap:.2f} s; {moved} of {len(run.on_cut_cable)} regions on ADC "
                f"moved off it; notifications: {notes}",
                flush=True,
            )
    finally:
        manager.down(opts)
    print(f"A and B agreed on {min(agreed)}-{max(agreed)} of 9 regions' cables before the cut")
    print(
        f"api_gap_s={max(gaps):.2f} duplicate_notifications={duplicates} lost_notifications={lost}"
    )


if __name__ == "__main__":
    main()
