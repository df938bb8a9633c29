"""One-way delay over each cable, and the way back, against the lab's ground truth.

In a lab of its own (root):

1. every region's STAMP rounds (20 packets, 20 ms apart) to every cable's target, the 9
   regions at once, each direction's median one-way delay against the emulator's record of
   what it gave the same packets that way (the namespaces share one clock): the error per
   path, and whether each path's return cable is named its own;
2. three regions' replies routed back over another cable (`lab reroute --return`: singapore
   over SJC, manila over ADC, brunei over SJC), the same rounds: how many of the 27 paths have
   their return cable named as the station routes it (read back from its kernel);
3. the whole stack (agents probing ICMP and STAMP every second, `cablewatch serve`,
   Alertmanager; harness/returns.py): with singapore's replies on SJC, SJC is cut: blamed
   right when the only fault alert is SJC's, naming singapore's other paths, and singapore is
   not moved; then a +3 ms step on tokyo/ADC, timed to its baseline-shift alert.

The last line holds the headline figures:

    fwd_error_ms=X rev_error_ms=Y return_attributed_ok=K of_paths=27
    return_cut_blamed_right=B shift_detect_s=S   (on one line)

(the worst path's error each way; goals: <= 0.2 ms, 27 of 27, B = 1, S <= 60 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from cablewatch.config import load_default
from cablewatch.harness.returns import (
    applied_medians,
    lower_median,
    return_cut,
    stamp_paths,
)
from cablewatch.lab import manager

REROUTED = {"singapore": "SJC", "manila": "ADC", "brunei": "SJC"}


def errors(opts: manager.LabOptions, count: int) -> tuple[list[float], list[float], int]:
    """Part 1: per path, |median - the emulator's| each way; paths named back over their own
    cable."""
    applied_medians(opts)  # the record starts
    results = stamp_paths(opts, count=count)
    applied = applied_medians(opts)
    fwd, rev, named = [], [], 0
    for key, row in sorted(results.items()):
        ow = row["oneway"]
        up, down = applied[key]
        f, r = lower_median(ow["forward_ms"]), lower_median(ow["reverse_ms"])
        if f is None or r is None:
            print(f"  {key}: no reply ({row['status']})", flush=True)
            continue
        fwd.append(abs(f - up))
        rev.append(abs(r - down))
        named += ow["return_cable"] == key[1]
    return fwd, rev, named


def rerouted(opts: manager.LabOptions, count: int) -> tuple[int, int]:
    """Part 2: paths whose return cable is named as the station routes it, of all."""
    for region, back in REROUTED.items():
        manager.reroute_return(opts, region, back)
    try:
        truth = manager.return_routes(opts)
        results = stamp_paths(opts, count=count)
    finally:
        for region in REROUTED:
            manager.reroute_return(opts, region, None)
    ok = 0
    for (region, cable), row in sorted(results.items()):
        got, want = row["oneway"]["return_cable"], truth[region][cable]
        ok += got == want
        if got != want or want != cable:
            print(f"  {region}/{cable}: back over {want}, named {got} "
                  f"({row['oneway']['return_reason']})", flush=True)  # fmt: skip
    return ok, len(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20, help="STAMP packets per round")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-oneway-"))
    opts = manager.LabOptions(state_dir=tmp / "lab", prefix="cwo", mgmt_subnet="198.18.248.0/24")
    manager.up(load_default(), opts)
    try:
        fwd, rev, named = errors(opts, args.count)
        print(f"symmetric: one-way error against the emulator, forward median "
              f"{statistics.median(fwd):.3f} ms worst {max(fwd):.3f} ms; reverse median "
              f"{statistics.median(rev):.3f} ms worst {max(rev):.3f} ms over {len(fwd)} paths; "
              f"named back over their own cable: {named}", flush=True)  # fmt: skip
        ok, of = rerouted(opts, args.count)
        print(f"replies of {', '.join(f'{r} over {c}' for r, c in REROUTED.items())}: return "
              f"cable named right on {ok} of {of} paths", flush=True)  # fmt: skip
        got = return_cut(opts, tmp / "stack", region="singapore", back="SJC",
                              shift=("tokyo", "ADC"))  # fmt: skip
        print(f"singapore back over SJC ({got.confirmed_s:.1f} s to its info alert: "
              f"{got.asymmetric!r}); SJC cut: fault alerts {sorted(got.faults)}, first after "
              f"{got.detect_s:.2f} s; singapore recommended {got.before.get('singapore')} -> "
              f"{got.after.get('singapore')}: blamed right: {got.blamed_right}",
              flush=True)  # fmt: skip
        print(f"+3 ms on tokyo/ADC: shift alert after {got.shift_s:.1f} s "
              f"({got.shift_summary!r})", flush=True)  # fmt: skip
    finally:
        manager.down(opts)
    print(f"fwd_error_ms={max(fwd):.3f} rev_error_ms={max(rev):.3f} return_attributed_ok={ok} "
          f"of_paths={of} return_cut_blamed_right={int(got.blamed_right)} "
          f"shift_detect_s={got.shift_s:.1f}")  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    main()
