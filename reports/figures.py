"""A customer's SLA report, as figures: pure, from minutes, events, recommendations and
maintenance windows (reports/source.py reads them; reports/render.py draws them).

Every figure follows the definitions of :mod:`cablewatch.sla.policy`, minute by minute, with the
same functions as the evaluator (``sla.evaluate``), so a report and ``cablewatch sla status``
over the same window agree. Over a period of N minutes, per region:

- the region's minute is its best cable's (good if any cable was good, ...); availability,
  bad / no-data / excluded minutes, the error budget ((1 - objective) x N) and its use;
- RTT p50, p95 and p99 over every reply of the best cable's minutes, from the minutes' RTT
  sketches merged (within 0.1 %, sla/sketch.py; percentiles themselves do not merge: the p95
  of the minutes' p95s erred by up to several ms); loss by packets; jitter: the mean of the
  minutes' mean jitter. The best cable of a minute is the good one with the lowest median
  (else the one with data);
- the credit: the policy's tier for the region's availability.

The figures table (regions, cables, incidents) is hashed (SHA-256 over canonical JSON) so that
two copies of a report can be checked against each other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cablewatch.collectors.read.records import StoredEvent, Switch
from cablewatch.sla.evaluate import Minute, MinuteState, best_cable_states, path_states
from cablewatch.sla.maintenance import MaintenanceWindow
from cablewatch.sla.policy import SlaPolicy
from cablewatch.sla.sketch import merged
from cablewatch.values import percentile

__all__ = [
    "Incident",
    "PathFigures",
    "RegionFigures",
    "Report",
    "StoredEvent",
    "Switch",
    "build",
    "figures_digest",
]

PathMinutes = Mapping[tuple[str, str], Mapping[int, Minute]]


@dataclass(slots=True)
class PathFigures:
    region: str
    cable: str
    """A cable's name, or "best" for the region on its best cable."""
    good_minutes: int
    bad_minutes: int
    nodata_minutes: int
    excluded_minutes: int
    availability_pct: float | None
    completeness_pct: float | None
    """Minutes with data / minutes not excluded."""
    rtt_p50_ms: float | None
    rtt_p95_ms: float | None
    loss_pct: float | None
    jitter_ms: float | None
    ttft_p95_ms: float | None = None
    """The 95th percentile of the per-minute TTFT p95s."""
    rtt_p99_ms: float | None = None
    """(None for periods rolled up before the minutes kept sketches.)"""


@dataclass(slots=True)
class RegionFigures:
    region: str
    best: PathFigures
    cables: list[PathFigures]
    availability_met: bool | None
    rtt_met: bool | None
    loss_met: bool | None
    ttft_met: bool | None
    """None without data, or when the policy sets no TTFT objective."""
    met: bool | None
    """Every objective with data met; None without data."""
    budget_minutes: float
    budget_used_pct: float
    credit_pct: float
    daily: list[tuple[str, float | None]] = field(default_factory=list)
    """(local date, availability on the best cable)."""
    burndown: list[tuple[float, float]] = field(default_factory=list)
    """(Unix s, budget left %) at each hour's end."""


@dataclass(slots=True)
class Incident:
    id: str
    scope: str
    subject: str
    cable: str
    start_s: float
    end_s: float | None
    duration_s: float
    """Until the end, or the period's end while still open."""
    regions: list[str]
    """The customer's regions it touched."""
    switches: list[Switch]
    back_within_s: float | None
    """From the start until every touched region was recommended a cable the fault did not
    touch (or the fault ended); None when no touched region was on the faulty cable."""


@dataclass(slots=True)
class Report:
    customer: str
    start_s: float
    end_s: float
    timezone: str
    label: str
    partial: bool
    """The period had not ended when the report was made."""
    generated_s: float
    version: str
    policy: dict[str, Any]
    regions: list[RegionFigures]
    incidents: list[Incident]
    maintenance: list[dict[str, Any]]
    met: bool | None
    credit_pct: float
    digest: str = ""
    rollup_minutes: int = 0
    """Of the period's minutes so far, how many were read from the 1-minute rollups ..."""
    raw_minutes: int = 0
    """... and how many from the raw points (the rest of the period)."""
    names: dict[str, str] = field(default_factory=dict)
    """Region id -> its display name, for what people read (the figures keep the ids)."""
    counted_from_s: float = 0.0
    """The first minute counted: the period's start, or when monitoring began if later (the
    minutes before it are not counted at all: no data, no budget)."""
    began_s: float | None = None
    """When monitoring began (the first measured minute), if known."""

    def name(self, region: str) -> str:
        return self.names.get(region, region)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def headline(self) -> str:
        verdict = {True: "met", False: "missed", None: "no data"}[self.met]
        missed = [r.region for r in self.regions if r.met is False]
        where = f" ({', '.join(missed)})" if missed else ""
        return (f"{self.customer} {self.label}: SLA {verdict}{where}, credit "
                f"{self.credit_pct:g} %, figures SHA-256 {self.digest[:16]}")  # fmt: skip


def _best_minute(minutes: Sequence[tuple[MinuteState, Minute | None]]) -> Minute | None:
    good = [m for s, m in minutes if s == "good" and m is not None]
    if good:
        return min(good, key=lambda m: m.median_rtt_ms if m.median_rtt_ms is not None else 1e9)
    with_data = [m for s, m in minutes if s == "bad" and m is not None]
    return with_data[0] if with_data else None


def _rtt_percentiles(used: Sequence[Minute]) -> tuple[float | None, float | None, float | None]:
    """p50, p95 and p99 of every reply of ``used``, from their sketches merged (within 0.1 %);
    minutes rolled up before the rollups kept sketches fall back to the old estimate: the
    median of the minutes' medians and the 95th percentile of their p95s (no p99)."""
    with_data = [m for m in used if m.median_rtt_ms is not None]
    if with_data and all(m.rtt_sketch is not None for m in with_data):
        sketch = merged(m.rtt_sketch for m in with_data)
        assert sketch is not None
        return sketch.quantile(0.5), sketch.quantile(0.95), sketch.quantile(0.99)
    medians = [m.median_rtt_ms for m in with_data if m.median_rtt_ms is not None]
    p95s = [m.rtt_p95_ms for m in used if m.rtt_p95_ms is not None]
    return (percentile(medians, 50) if medians else None,
            percentile(p95s, 95) if p95s else None, None)  # fmt: skip


def _path_figures(
    region: str, cable: str, states: Mapping[int, MinuteState], used: Sequence[Minute]
) -> PathFigures:
    counts = dict.fromkeys(("good", "bad", "nodata", "excluded"), 0)
    for state in states.values():
        counts[state] += 1
    good, bad, excluded = counts["good"], counts["bad"], counts["excluded"]
    countable = len(states) - excluded
    sent = sum(m.sent for m in used)
    rtt = _rtt_percentiles(used)
    jitters = [m.jitter_ms for m in used if m.jitter_ms is not None]
    ttfts = [m.ttft_p95_ms for m in used if m.ttft_p95_ms is not None]
    return PathFigures(
        region=region,
        cable=cable,
        good_minutes=good,
        bad_minutes=bad,
        nodata_minutes=counts["nodata"],
        excluded_minutes=excluded,
        availability_pct=100.0 * good / (good + bad) if good + bad else None,
        completeness_pct=100.0 * (good + bad) / countable if countable else None,
        rtt_p50_ms=rtt[0],
        rtt_p95_ms=rtt[1],
        rtt_p99_ms=rtt[2],
        loss_pct=100.0 * (sent - sum(m.received for m in used)) / sent if sent else None,
        jitter_ms=sum(jitters) / len(jitters) if jitters else None,
        ttft_p95_ms=percentile(ttfts, 95) if ttfts else None,
    )


def _daily(
    states: Mapping[int, MinuteState], tz: zoneinfo.ZoneInfo
) -> list[tuple[str, float | None]]:
    days: dict[str, list[int]] = {}
    for s, state in states.items():
        day = dt.datetime.fromtimestamp(s, tz).date().isoformat()
        tally = days.setdefault(day, [0, 0])
        if state == "good":
            tally[0] += 1
        elif state == "bad":
            tally[1] += 1
    return [(d, 100.0 * g / (g + b) if g + b else None) for d, (g, b) in sorted(days.items())]


def _burndown(
    states: Mapping[int, MinuteState], budget: float, start_s: int
) -> list[tuple[float, float]]:
    out = [(float(start_s), 100.0)]
    bad = 0
    ordered = sorted(states)
    last = ordered[-1] if ordered else None
    for s in ordered:
        bad += states[s] == "bad"
        if (s + 60 - start_s) % 3600 == 0 or s == last:
            out.append((float(s + 60), 100.0 * (1.0 - bad / budget) if budget else 0.0))
    return out


def _region(
    policy: SlaPolicy,
    region: str,
    minutes: PathMinutes,
    starts: range,
    windows: Sequence[MaintenanceWindow],
    tz: zoneinfo.ZoneInfo,
) -> RegionFigures:
    paths = {c: minutes.get((region, c), {}) for c in policy.cables}
    cable_states = {c: path_states(policy, region, c, m, starts, windows)
                    for c, m in paths.items()}  # fmt: skip
    best_states = best_cable_states(region, cable_states, starts, windows)
    best_used = [
        m
        for s in starts
        if best_states[s] in ("good", "bad")
        and (m := _best_minute([(cable_states[c][s], paths[c].get(s)) for c in paths])) is not None
    ]
    best = _path_figures(region, "best", best_states, best_used)
    cables = [
        _path_figures(region, c, cable_states[c],
                      [m for s, m in paths[c].items() if cable_states[c].get(s) in ("good", "bad")])
        for c in policy.cables
    ]  # fmt: skip
    budget = policy.error_ratio * len(starts)
    checks = {
        "availability": None if best.availability_pct is None
        else best.availability_pct >= policy.availability_pct,
        "rtt": None if best.rtt_p95_ms is None else best.rtt_p95_ms <= policy.rtt_p95_ms,
        "loss": None if best.loss_pct is None else best.loss_pct <= policy.loss_pct,
        "ttft": None if best.ttft_p95_ms is None or policy.ttft_p95_ms is None
        else best.ttft_p95_ms <= policy.ttft_p95_ms,
    }  # fmt: skip
    known = [v for v in checks.values() if v is not None]
    return RegionFigures(
        region=region,
        best=best,
        cables=cables,
        availability_met=checks["availability"],
        rtt_met=checks["rtt"],
        loss_met=checks["loss"],
        ttft_met=checks["ttft"],
        met=all(known) if known else None,
        budget_minutes=budget,
        budget_used_pct=100.0 * best.bad_minutes / budget if budget else 0.0,
        credit_pct=policy.credit_pct(best.availability_pct),
        daily=_daily(best_states, tz),
        burndown=_burndown(best_states, budget, starts.start),
    )


def _incidents(
    policy: SlaPolicy,
    events: Sequence[StoredEvent],
    switches: Sequence[Switch],
    start_s: float,
    end_s: float,
) -> list[Incident]:
    mine = set(policy.regions)
    out = []
    for e in sorted(events, key=lambda e: e.start_s):
        touched = sorted(mine & set(e.regions))
        if not touched and policy.customer not in e.customers:
            continue
        if e.start_s >= end_s or (e.end_s is not None and e.end_s <= start_s):
            continue
        until = e.end_s if e.end_s is not None else end_s
        moves = [w for w in switches if w.region in touched and e.start_s <= w.at_s <= until]
        back: float | None = None
        if e.cable:
            # a region is back when it was recommended off the faulty cable; a region that was
            # not on it (no move from it, none to it) was never affected
            left = [min((w.at_s for w in moves if w.region == r and w.previous == e.cable),
                        default=None) for r in touched]  # fmt: skip
            on_it = [r for r, t in zip(touched, left, strict=True) if t is not None]
            if on_it:
                back = max(t for t in left if t is not None) - e.start_s
        else:
            back = until - e.start_s
        out.append(Incident(e.id, e.scope, e.subject, e.cable, e.start_s, e.end_s,
                            until - e.start_s, touched, moves, back))  # fmt: skip
    return out


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


def figures_digest(report: dict[str, Any]) -> str:
    """SHA-256 of the report's figures table (regions with every cable, incidents), as
    canonical JSON (sorted keys, floats rounded to 6 places): the same on every copy."""
    table = {"customer": report["customer"], "start_s": report["start_s"],
             "end_s": report["end_s"], "regions": report["regions"],
             "incidents": report["incidents"]}  # fmt: skip
    text = json.dumps(_round(table), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def build(
    policy: SlaPolicy,
    minutes: PathMinutes,
    *,
    start_s: int,
    end_s: int,
    label: str,
    timezone: str,
    now_s: float,
    version: str,
    maintenance: Sequence[MaintenanceWindow] = (),
    events: Sequence[StoredEvent] = (),
    switches: Sequence[Switch] = (),
    names: Mapping[str, str] | None = None,
    began_s: int | None = None,
) -> Report:
    """The report of ``policy``'s customer over the minutes of [start_s, end_s) (multiples of
    60); minutes after ``now_s`` are not counted (a period in progress), nor those before
    ``began_s`` (when monitoring began: collectors.read.minutes.first_measured). ``names``:
    each region's display name."""
    stop = min(end_s, int(now_s // 60 * 60))
    first = start_s if began_s is None else max(start_s, min(stop, began_s // 60 * 60))
    starts = range(first, max(first, stop), 60)
    tz = zoneinfo.ZoneInfo(timezone)
    regions = [_region(policy, r, minutes, starts, maintenance, tz) for r in policy.regions]
    windows = [
        {"scope": w.scope, "start_s": w.start_s, "end_s": w.end_s, "reason": w.reason}
        for w in maintenance
        if w.start_s < stop and w.end_s > start_s
        and (w.region in (None, *policy.regions)) and (w.cable in (None, *policy.cables))
    ]  # fmt: skip
    known = [r.met for r in regions if r.met is not None]
    report = Report(
        customer=policy.customer,
        start_s=float(start_s),
        end_s=float(end_s),
        timezone=timezone,
        label=label,
        partial=stop < end_s,
        generated_s=now_s,
        version=version,
        policy={
            "availability_pct": policy.availability_pct,
            "rtt_p95_ms": policy.rtt_p95_ms,
            "loss_pct": policy.loss_pct,
            "ttft_p95_ms": policy.ttft_p95_ms,
            "bad_minute_loss_pct": policy.bad_minute_loss_pct,
            "bad_minute_rtt_ms": policy.bad_minute_rtt_ms,
            "min_packets": policy.min_packets,
            "cables": list(policy.cables),
            "credits": [[c.below_pct, c.credit_pct] for c in policy.credits],
        },
        regions=regions,
        names=dict(names or {}),
        incidents=_incidents(policy, events, switches, start_s, stop),
        maintenance=windows,
        met=all(known) if known else None,
        credit_pct=max((r.credit_pct for r in regions), default=0.0),
        counted_from_s=float(first),
        began_s=None if began_s is None else float(began_s // 60 * 60),
    )
    report.digest = figures_digest(report.to_json())
    return report
