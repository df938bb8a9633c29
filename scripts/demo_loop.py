"""The demo's closed-loop stage, on the lab the demo brought up (CABLEWATCH_LAB_DIR).

Agents probe every cable each second; `cablewatch serve` (evaluator, failover, gateway API)
recommends a cable per region; a gateway stand-in in each region's namespace follows the
recommendations (polling the API with ETags) by moving the region's route to the service
address, and measures the time to first token of the station's streaming API through it. ADC
is cut: the table shows, per region that was on ADC, when the recommendation came, when the
route moved and when requests were back within the SLA, with the TTFT before and after.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from cablewatch.lab import manager
from cablewatch.lab.loop import closed_loop, recoveries, switches

out = Console(width=200)


def main() -> None:
    opts = manager.LabOptions(state_dir=Path(os.environ["CABLEWATCH_LAB_DIR"]))
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-demo-loop-"))
    run = closed_loop(opts, tmp, interval_s=1.0, hold_s=8, after_restore_s=5,
                      say=lambda text: out.print(f"[bold]{text}[/bold]"))  # fmt: skip
    first = {r: next(x for x in rs if x["kind"] == "switch") for r, rs in run.records.items()}
    table = Table(title="Recommendations before the cut",
                  title_justify="left", box=box.SIMPLE_HEAD)  # fmt: skip
    for name in ("region", "cable", "why"):
        table.add_column(name)
    for region, rec in first.items():
        table.add_row(region, rec["to"], rec["reason"])
    out.print(table)
    table = Table(title="ADC cut at t = 0: recommendation -> route switch -> back within the SLA",
                  title_justify="left", box=box.SIMPLE_HEAD)  # fmt: skip
    for name in ("region", "from -> to", "recommended s", "switched s", "within SLA s",
                 "TTFT before ms", "TTFT after ms", "why"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("region", "from -> to", "why")
                         else "right")  # fmt: skip
    for region, t in recoveries(run).items():
        move = switches(run, region, run.cut, run.end)[0]
        cells = [f"{t[k]:.2f}" for k in ("recommended_s", "switched_s", "recovered_s")]
        cells += [f"{t[k]:.1f}" for k in ("ttft_before_ms", "ttft_after_ms")]
        table.add_row(region, f"{move['from']} -> {move['to']}", *cells, move["reason"])
    out.print(table)
    back = sum(len(switches(run, r, run.restore, run.end)) for r in run.records)
    others = [r for r in run.records if r not in run.on_cut_cable]
    moved = sum(len(switches(run, r, run.cut, run.end)) for r in others)
    out.print(
        f"switches back after the restore (hold-down): {back}; switches of regions that "
        f"were not on ADC: {moved}"
    )


if __name__ == "__main__":
    main()
