"""The demo's closed-loop stage, on the lab the demo brought up (CABLEWATCH_LAB_DIR).

Agents probe every cable each second; `cablewatch serve` (evaluator, failover, gateway API)
recommends a cable per region; a gateway stand-in in each region's namespace follows the
recommendations (polling the API with ETags) by moving the region's route to the service
address, and measures the time to first token of the station's streaming API through it. ADC
is cut: the table shows, per region that was on ADC, when the recommendation came, when the
route moved and when requests were back within the SLA, with the TTFT before and after. Then
sea-retail's SLA report over the run (from the gateway API, as PDF and JSON; page 1 drawn with
pdftoppm) and its status page (headless Chromium) are written to out/, and `cablewatch explain`
shows the windows behind one region's move off ADC beside what InfluxDB holds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich import box
from rich.console import Console
from rich.table import Table

from cablewatch.harness.loop import closed_loop, recoveries, switches
from cablewatch.lab import manager
from cablewatch.timefmt import utc_iso

out = Console(width=200)
ROOT = Path(__file__).resolve().parents[1]
CUSTOMER = "sea-retail"


def explain(api: str, token: str, config: Path) -> None:
    """`cablewatch explain` for the first region the cut moved off ADC."""
    recs = httpx.get(
        f"{api}/v1/recommendations", timeout=30, headers={"Authorization": f"Bearer {token}"}
    ).json()["recommendations"]
    moved = [r["region"] for r in recs if r["previous"] == "ADC"]
    if not moved:
        return
    out.print(f"[bold]Why {moved[0]} left ADC, checked against InfluxDB[/bold]")
    out.print(f"$ cablewatch explain {moved[0]}", markup=False, highlight=False)
    done = subprocess.run([sys.executable, "-m", "cablewatch", "explain", moved[0],
                           "--config", str(config)], capture_output=True, text=True,
                          env=os.environ | {"COLUMNS": "120"}, check=False)  # fmt: skip
    out.print(done.stdout + done.stderr, markup=False, highlight=False, end="")


def before_stop(api: str, token: str, tmp: Path, since: float) -> None:
    explain(api, token, tmp / "cw.toml")
    report(api, token, since)


def report(api: str, token: str, since: float) -> None:
    """sea-retail's report over the run and its status page, into out/."""
    done = (time.time() // 60 + 1) * 60 + 2  # the restore's minute complete: it counts
    out.print(f"[bold]... {done - time.time():.0f} s until the restore's minute is complete, "
              f"then {CUSTOMER}'s SLA report over the run (gateway API)[/bold]")  # fmt: skip
    time.sleep(max(0.0, done - time.time()))
    folder = ROOT / "out"
    folder.mkdir(exist_ok=True)
    window = {"from": utc_iso(since // 60 * 60), "to": utc_iso(time.time() // 60 * 60)}
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{api}/v1/customers/{CUSTOMER}/report"
    pdf = folder / f"report-{CUSTOMER}.pdf"
    for fmt in ("pdf", "json"):
        r = httpx.get(url, params=window | {"format": fmt}, headers=headers, timeout=120)
        r.raise_for_status()
        (folder / f"report-{CUSTOMER}.{fmt}").write_bytes(r.content)
    data = httpx.get(url, params=window | {"format": "json"}, headers=headers, timeout=120).json()
    out.print(f"$ GET /v1/customers/{CUSTOMER}/report?from={window['from']}&to={window['to']}"
              f"&format=pdf -> {pdf.relative_to(ROOT)} ({pdf.stat().st_size // 1024} KiB)",
              markup=False, highlight=False)  # fmt: skip
    for i in data["incidents"]:
        moves = ", ".join(f"{w['region']} {w['previous']}->{w['cable']} at "
                          f"+{w['at_s'] - i['start_s']:.1f} s" for w in i["switches"])  # fmt: skip
        back = i["back_within_s"]
        after = f"{back:.1f} s" if back is not None else "- (none of its regions was on it)"
        out.print(f"  incident {i['scope']} {i['subject']}: {i['duration_s']:.1f} s, regions "
                  f"{', '.join(i['regions'])}; switches: {moves or 'none'}; back within SLA "
                  f"after {after}", markup=False)  # fmt: skip
    for g in data["regions"]:
        cut = next(c for c in g["cables"] if c["cable"] == "ADC")
        out.print(f"  {g['region']:18} best cable: {g['best']['availability_pct']:.3f} % "
                  f"({g['best']['bad_minutes']} bad min); ADC alone: {cut['bad_minutes']} bad "
                  f"min, loss {cut['loss_pct']:.2f} %", markup=False)  # fmt: skip
    out.print(f"  SLA {'met' if data['met'] else 'missed'}, credit {data['credit_pct']:g} %, "
              f"figures SHA-256 {data['digest']}", markup=False)  # fmt: skip
    if shutil.which("pdftoppm"):
        page1 = folder / f"report-{CUSTOMER}-page1"
        subprocess.run(["pdftoppm", "-r", "70", "-png", "-f", "1", "-l", "1", "-singlefile",
                        str(pdf), str(page1)], check=True)  # fmt: skip
        out.print(f"  page 1: out/report-{CUSTOMER}-page1.png", markup=False)
    if shutil.which("chromium"):
        shot = folder / f"status-{CUSTOMER}.png"
        link = httpx.get(f"{api}/v1/customers/{CUSTOMER}/status-link", timeout=30,
                         headers={"Authorization": f"Bearer {token}"}).json()["path"]  # fmt: skip
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                            "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={profile}", "--window-size=1280,760",
                            f"--screenshot={shot}",
                            f"{api}{link}"],
                           capture_output=True, timeout=120, check=False)  # fmt: skip
        out.print(f"  status page (headless Chromium): {shot.relative_to(ROOT)}", markup=False)


def main() -> None:
    opts = manager.LabOptions(state_dir=Path(os.environ["CABLEWATCH_LAB_DIR"]))
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-demo-loop-"))
    since = time.time()
    run = closed_loop(opts, tmp, interval_s=1.0, hold_s=8, after_restore_s=5,
                      say=lambda text: out.print(f"[bold]{text}[/bold]"),
                      before_stop=lambda a, t: before_stop(a, t, tmp, since))  # fmt: skip
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
