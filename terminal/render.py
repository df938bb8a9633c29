"""Readable tables (rich) and JSON for the CLI. Formatting only; no probing, no decisions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from cablewatch.config import Config
from cablewatch.probes.registry import spec
from cablewatch.probes.result import ProbeResult
from cablewatch.probes.spec import ms_cell
from cablewatch.sla.evaluate import SlaStatus
from cablewatch.timefmt import utc_iso
from cablewatch.topology import physics
from cablewatch.topology.model import Topology

__all__ = ["print_json", "results_table", "topology_rows", "topology_table", "trace_tables"]

_STATUS_STYLE = {"ok": "green", "loss": "red bold"}


def print_json(console: Console, payload: Any) -> None:
    console.file.write(json.dumps(payload, indent=2) + "\n")


def _status(r: ProbeResult) -> str:
    style = _STATUS_STYLE.get(r.status, "red")
    return f"[{style}]{r.status}[/{style}]"


def results_table(results: Sequence[ProbeResult], topology: Topology | None = None) -> list[Table]:
    """One table per protocol present, rows in the order given; the columns are the
    protocol's own (its spec in the probe registry). Round-trip protocols of a labelled
    region x cable also show the path's physics floor and the stretch over it."""
    tables: list[Table] = []
    labelled = any(r.labels for r in results)
    by_proto: dict[str, list[ProbeResult]] = {}
    for r in results:
        by_proto.setdefault(r.protocol, []).append(r)
    for proto, rows in by_proto.items():
        probe = spec(proto)
        table = Table(title=f"{proto.upper()} results", title_justify="left", box=box.SIMPLE_HEAD)
        if labelled:
            table.add_column("region")
            table.add_column("cable")
        table.add_column("target")
        table.add_column("status")
        for col in probe.columns:
            table.add_column(col.header, justify="right" if col.right else "left")
        floor_rtt = probe.floor_rtt if labelled and topology is not None else None
        if floor_rtt is not None:
            table.add_column("floor ms", justify="right")
            table.add_column("stretch", justify="right")
        for r in rows:
            cells = [*_lead(r, labelled), *(col.cell(r) for col in probe.columns)]
            if floor_rtt is not None and topology is not None:
                path = topology.region(r.labels["region"]).paths.get(r.labels["cable"])
                floor = path.floor_rtt_ms if path else None
                best = floor_rtt(r)
                cells.append(ms_cell(floor))
                cells.append(
                    "-" if not floor or best is None else f"{physics.stretch(best, floor):.2f}"
                )
            table.add_row(*cells)
        if not any(col.header == "error" for col in probe.columns):
            _footnotes(table, rows)  # errors as captions under tables without an error column
        tables.append(table)
    return tables


def _lead(r: ProbeResult, labelled: bool) -> list[str]:
    target = r.target if not r.address or r.address == r.target else f"{r.target} ({r.address})"
    over = r.labels.get("cable") or r.labels.get("path", "")
    lead = [r.labels.get("region", ""), over] if labelled else []
    return [*lead, target, _status(r)]


def trace_tables(results: Sequence[ProbeResult]) -> list[Table]:
    """A hop table per trace: TTL, address, name, each probe's RTT, loss, the cable the hop
    belongs to, and the wet segment marked."""
    tables: list[Table] = []
    for r in results:
        tr = r.trace
        where = " ".join(
            x
            for x in (r.labels.get("region", ""), r.labels.get("cable") or r.labels.get("path", ""))
            if x
        )
        head = f"trace to {r.target}" + (f" from {where}" if where else "")
        if tr is None:
            tables.append(Table(title=f"{head}: {r.status}: {r.error}", title_justify="left"))
            continue
        route = tr.cable or "not attributed"
        if tr.wet is not None and tr.wet_jump_ms is not None:
            route += f"; wet segment {tr.wet[0]}-{tr.wet[1]}, +{tr.wet_jump_ms:.2f} ms"
        title = f"{head} ({tr.mode}, Paris): {'reached' if tr.reached else r.status}; {route}"
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        for col, right in (("hop", True), ("address", False), ("name", False), ("rtt ms", True),
                           ("loss", True), ("cable", False), ("", False)):  # fmt: skip
            table.add_column(col, justify="right" if right else "left")
        for h in tr.hops:
            rtts = "  ".join("*" if x is None else f"{x:.3f}" for x in h.rtts_ms)
            wet = "wet" if tr.wet is not None and h.ttl == tr.wet[1] else ""
            mark = " ".join(x for x in (h.flag, wet, *(f"also {o}" for o in h.others)) if x)
            table.add_row(str(h.ttl), h.address or "*", h.name, rtts, f"{h.loss_pct:.0f}%",
                          h.cable, mark)  # fmt: skip
        if r.error:
            table.caption, table.caption_justify = r.error, "left"
        tables.append(table)
    return tables


def _footnotes(table: Table, rows: list[ProbeResult]) -> None:
    notes = [f"{r.target}: {r.error}" for r in rows if r.error]
    if notes:
        table.caption = "\n".join(notes)
        table.caption_justify = "left"


def topology_rows(topology: Topology) -> list[dict[str, Any]]:
    """Region x cable: path km, one-way ms, floor RTT ms, great-circle km (JSON-ready)."""
    rows = []
    station = topology.landing_station
    for region in topology.regions:
        for cable in topology.cables:
            path = region.paths.get(cable.name)
            if path is None:
                continue
            rows.append(
                {
                    "region": region.id,
                    "cable": cable.name,
                    "landing_point": path.landing_point,
                    "path_km": round(path.path_km, 1),
                    "one_way_ms": round(path.one_way_ms, 3),
                    "floor_rtt_ms": round(path.floor_rtt_ms, 3),
                    "great_circle_km": round(region.great_circle_km(station), 1),
                }
            )
    return rows


def topology_table(topology: Topology) -> Table:
    station = topology.landing_station
    table = Table(
        title=f"{station.name}: path length and RTT floor (2 x km x "
        f"{physics.FIBRE_US_PER_KM} us) per region and cable",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("region")
    table.add_column("great circle km", justify="right")
    for cable in topology.cables:
        table.add_column(f"{cable.name} km", justify="right")
        table.add_column(f"{cable.name} floor ms", justify="right")
    for region in topology.regions:
        cells = [region.id, f"{region.great_circle_km(station):,.0f}"]
        for cable in topology.cables:
            path = region.paths.get(cable.name)
            cells += (
                ["-", "-"] if path is None else [f"{path.path_km:,.0f}", f"{path.floor_rtt_ms:.2f}"]
            )
        table.add_row(*cells)
    return table


def lab_status_table(status: dict[str, Any]) -> Table:
    emu = status.get("emulator", {})
    procs = ", ".join(f"{n} {'up' if ok else 'DOWN'}" for n, ok in status["processes"].items())
    where = (
        f"namespaces {status['namespaces_present']}/{status['namespaces_expected']}; {procs}; "
        + (
            f"emulator pid {emu['pid']}, cpu {emu['cpu_s']:.1f} s in {emu['uptime_s']:.0f} s"
            if "pid" in emu
            else f"emulator: {emu.get('error', '?')}"
        )
    )
    table = Table(title=f"Lab links ({where})", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("region", "cable", "segment", "state"):
        table.add_column(name)
    for name in ("one-way ms", "+delay ms", "jitter ms", "loss %", "fwd up", "fwd down",
                 "drop up", "drop down", "queued"):  # fmt: skip
        table.add_column(name, justify="right")
    for p in status["paths"]:
        if "cut" not in p:
            table.add_row(p["region"], p["cable"], p["segment"], "unknown")
            continue
        degraded = p["add_delay_ms"] or p["jitter_ms"] or p["loss_pct"] or p["rate_kbps"]
        state = (
            "[red]CUT[/red]" if p["cut"] else ("[yellow]degraded[/yellow]" if degraded else "up")
        )
        table.add_row(
            p["region"], p["cable"], p["segment"], state,
            f"{p['one_way_ms']:.2f}", f"{p['add_delay_ms']:g}", f"{p['jitter_ms']:g}",
            f"{p['loss_pct']:g}", str(p["forwarded_up"]), str(p["forwarded_down"]),
            str(p["dropped_up"]), str(p["dropped_down"]), str(p["queued"]),
        )  # fmt: skip
    routes = status.get("service_routes", {})
    if routes and "error" not in routes:
        table.caption = "service address routes: " + ", ".join(
            f"{region} {cable}" for region, cable in routes.items()
        )
        back = status.get("return_routes", {})
        asymmetric = [f"{region} out over {cable}, back over {way}"
                      for region, paths in back.items() if "error" not in back
                      for cable, way in paths.items() if way != cable]  # fmt: skip
        table.caption += "\nways back: " + ("; ".join(asymmetric) or "every path symmetric")
        table.caption_justify = "left"
    return table


def lab_targets_table(targets: dict[str, Any]) -> Table:
    table = Table(title="Lab targets: region x cable", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("region", "cable", "namespace", "source", "target", "floor ms", "path"):
        table.add_column(name, justify="right" if name == "floor ms" else "left")
    for region, cables in targets.items():
        for cable, t in cables.items():
            table.add_row(
                region, cable, t["namespace"], t["source"], t["target"],
                f"{t['floor_rtt_ms']:.2f}", " > ".join(t["hops"]),
            )  # fmt: skip
    return table


def survey_table(results: Sequence[ProbeResult], title: str) -> Table:
    """Region x cable: median RTT, its stretch over the physics floor, loss."""
    cables = list(dict.fromkeys(r.labels["cable"] for r in results))
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("region")
    for cable in cables:
        table.add_column(f"{cable} floor ms", justify="right")
        table.add_column(f"{cable} median ms", justify="right")
    rows: dict[str, list[str]] = {}
    for r in results:
        floor = float(r.labels["floor_rtt_ms"])
        s = r.summary
        if s is None or s.median_ms is None:
            cell = "[red bold]100 % loss[/red bold]"
        else:
            cell = f"{s.median_ms:.2f} ({physics.stretch(s.median_ms, floor):.2f}x)"
            if s.loss_pct:
                cell += f" [yellow]{s.loss_pct:.0f} % loss[/yellow]"
        rows.setdefault(r.labels["region"], []).extend([f"{floor:.2f}", cell])
    for region, cells in rows.items():
        table.add_row(region, *cells)
    return table


def spool_table(report: dict[str, Any]) -> Table:
    title = (
        f"Spool {report['path']}: {report['points_pending']} points pending "
        f"({report['bytes_pending']} bytes), {report['points_dropped']} dropped"
    )
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("protocol", "region", "cable", "target"):
        table.add_column(name)
    table.add_column("rounds made", justify="right")
    for series, made in sorted(report["rounds"].items()):
        table.add_row(*series.split("|"), str(made))
    return table


def _pct(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def sla_rows(statuses: Sequence[SlaStatus]) -> list[dict[str, Any]]:
    return [
        {
            "customer": s.customer,
            "region": s.region,
            "cable": s.cable,
            "availability_pct": s.availability_pct,
            "good_minutes": s.good_minutes,
            "bad_minutes": s.bad_minutes,
            "nodata_minutes": s.nodata_minutes,
            "excluded_minutes": s.excluded_minutes,
            "budget_minutes": s.budget_minutes,
            "budget_left_pct": s.budget_left_pct,
            "burn_rates": dict(s.burn_rates),
            "rtt_p95_ms": s.rtt_p95_ms,
            "loss_pct": s.loss_pct,
            "ttft_p95_ms": s.ttft_p95_ms,
            "alerts": list(s.alerts),
            "compliant": s.compliant,
            "ongoing": s.ongoing,
        }
        for s in statuses
    ]


def sla_table(statuses: Sequence[SlaStatus], config: Config) -> Table:
    live = any(s.ongoing is not None for s in statuses)
    table = Table(title="SLA status (minutes with data; 'any' = the region on its best cable"
                  + ("; * counts the minute in progress so far" if live else "") + ")",
                  title_justify="left", box=box.SIMPLE_HEAD)  # fmt: skip
    ttft = any(config.sla(s.customer).ttft_p95_ms is not None for s in statuses)
    names = {r.id: r.name for r in config.topology.regions}
    for name in ("customer", "region", "cable", "availability %", "bad min", "no-data min",
                 "budget left %", "burn 5m", "burn 1h", "burn 6h", "RTT p95 ms", "loss %",
                 *(("TTFT p95 ms",) if ttft else ()), "status"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("customer", "region", "cable",
                                                          "status") else "right")  # fmt: skip
    for s in statuses:
        policy = config.sla(s.customer)
        goal = policy.ttft_p95_ms
        ttft_cell = (f"{_pct(s.ttft_p95_ms, 1)} / {goal:g}",) if goal is not None else ("-",)
        state = {True: "[green]met[/green]", False: "[red bold]missed[/red bold]",
                 None: "no data"}[s.compliant]  # fmt: skip
        if s.alerts:
            state += " [red]" + ", ".join(a.removeprefix("CablewatchSla") for a in s.alerts) + "[/]"
        burns = [_pct(s.burn_rates.get(w), 2) for w in ("5m", "1h", "6h")]
        table.add_row(
            s.customer, names.get(s.region, s.region), s.cable,
            f"{_pct(s.availability_pct)}{'*' if s.ongoing else ''} / "
            f"{policy.availability_pct:g}",
            str(s.bad_minutes), str(s.nodata_minutes), _pct(s.budget_left_pct, 1), *burns,
            f"{_pct(s.rtt_p95_ms, 2)} / {policy.rtt_p95_ms:g}",
            f"{_pct(s.loss_pct, 2)} / {policy.loss_pct:g}", *(ttft_cell if ttft else ()), state,
        )  # fmt: skip
    return table


def explain_table(payload: dict[str, Any]) -> Table:
    """`cablewatch explain`: each cable's window as judged beside the same rounds now."""
    moved = (
        f"{payload['previous']} -> {payload['cable']}"
        if payload["previous"]
        else (f"first choice {payload['cable']}")
    )
    table = Table(title=f"{payload['region']}: {moved} ({payload['kind']}) at "
                  f"{utc_iso(payload['at_unix_s'])}\n{payload['reason']}", title_justify="left",
                  box=box.SIMPLE_HEAD)  # fmt: skip
    for name in ("cable", "window (UTC)", "rounds", "sent", "received", "loss %", "p50 ms",
                 "p95 ms", "InfluxDB now"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("cable", "window (UTC)") else "right")
    for c in payload["cables"]:
        j, now = c["judged"], c["stored"]
        span = f"{(j.get('from') or '-')[11:19]}-{(j.get('to') or '-')[11:19]}"
        table.add_row(c["cable"], span, *(_judged(j, now, k, ms) for k, ms in (
            ("rounds", False), ("sent", False), ("received", False), ("loss_pct", False),
            ("p50_ms", True), ("p95_ms", True))),
            "agrees" if c["agrees"] else "DIFFERS")  # fmt: skip
    return table


def _judged(judged: dict[str, Any], now: dict[str, Any], key: str, ms: bool) -> str:
    """The judged value, and what InfluxDB holds now when that differs."""

    def text(v: Any) -> str:
        return ms_cell(v) if ms else ("-" if v is None else f"{v:g}")

    a, b = text(judged.get(key)), text(now.get(key))
    return a if a == b else f"{a} (now {b})"
