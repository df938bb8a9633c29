"""What the evaluator writes back to InfluxDB: events, SLA status and recommendations, as
line protocol (the schema is in collectors/lineprotocol.py and the README)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cablewatch.collectors.lineprotocol import line
from cablewatch.correlation.events import Event
from cablewatch.correlation.returns import ReturnChange
from cablewatch.correlation.routes import RouteChange
from cablewatch.correlation.shift import ShiftChange
from cablewatch.failover.engine import Recommendation
from cablewatch.sla.evaluate import Minute, SlaStatus
from cablewatch.values import FieldValue

__all__ = [
    "event_line",
    "minute_line",
    "recommendation_line",
    "return_line",
    "rollup_line",
    "route_change_line",
    "shift_line",
    "sla_line",
]


def event_line(event: Event, station: str, start_s: float, evidence: dict[str, Any],
               names: Mapping[str, str] | None = None, *,
               token: int | None = None) -> str:  # fmt: skip
    """The event's point: its state and times, and what a NOC reads of its evidence as
    columns (summary, the regions affected by name, regions healthy, the worst loss and RTT
    step among its paths) beside the whole evidence as JSON. ``names``: region id -> name;
    ``token``: the writer's lease token (field ``lease_token``; none unfenced)."""
    regions = sorted({r for r, _c in event.seen_paths})
    end = event.resolved_s
    paths = evidence.get("paths") or {}
    losses = [p["loss_pct"] for p in paths.values() if p.get("loss_pct") is not None]
    steps = [p["median_ms"] - p["baseline_ms"] for p in paths.values()
             if p.get("median_ms") is not None and p.get("baseline_ms") is not None]  # fmt: skip
    fields: dict[str, FieldValue | None] = {
        "event_id": event.id,
        "state": "resolved" if end is not None else "open",
        "raised_unix_s": event.raised_s,
        "resolved_unix_s": end,
        "duration_s": None if end is None else max(0.0, end - start_s),
        "paths": len(event.seen_paths),
        "regions": ",".join(regions),
        "regions_named": ", ".join((names or {}).get(r, r) for r in regions),
        "severity": event.severity or None,
        "customers": ",".join(event.customers) or None,
        "summary": evidence.get("summary"),
        "regions_healthy": evidence.get("regions_healthy"),
        "worst_loss_pct": max(losses, default=None),
        "worst_rtt_step_ms": round(max(steps), 3) if steps else None,
        "evidence": json.dumps(evidence, sort_keys=True),
        "lease_token": token,
    }
    tags = {
        "scope": event.scope,
        "subject": event.subject,
        "cable": event.cable,
        "region": event.region,
        "landing_station": station,
    }
    return line("event", tags, fields, int(start_s * 1e9))


def route_change_line(change: RouteChange, station: str, attached_to: str) -> str:
    """A route change of a region's service path; ``attached_to``: the fault event that
    caused it ('' none: raised as an info event of its own)."""
    fields: dict[str, FieldValue | None] = {
        "cable_before": change.before.cable,
        "cable_after": change.after.cable,
        "hops_before": " ".join(change.before.hops),
        "hops_after": " ".join(change.after.hops),
        "rtt_before_ms": change.before.rtt_ms,
        "rtt_after_ms": change.after.rtt_ms,
        "rtt_step_ms": change.rtt_step_ms,
        "attached_to": attached_to or None,
        "summary": change.summary,
    }
    tags = {"region": change.region, "cable": change.after.cable, "landing_station": station}
    return line("route_change", tags, fields, int(change.time_s * 1e9))


def shift_line(key: tuple[str, str], change: ShiftChange, station: str, summary: str) -> str:
    """A baseline shift raised (state open) or resolved, stamped at its start: the path
    dashboard's annotations."""
    fields: dict[str, FieldValue | None] = {
        "state": "open" if change.kind == "raised" else "resolved",
        "delta_ms": round(change.delta_ms, 3),
        "baseline_ms": round(change.baseline_ms, 3),
        "reason": change.reason or None,
        "summary": summary,
    }
    tags = {"region": key[0], "cable": key[1], "landing_station": station}
    return line("baseline_shift", tags, fields, int(change.since_s * 1e9))


def return_line(change: ReturnChange, station: str) -> str:
    """A path's confirmed return cable changed, stamped at the first round that named it."""
    fields: dict[str, FieldValue | None] = {
        "return_cable": change.after,
        "previous": change.before,
        "asymmetric": change.after != change.cable,
        "summary": f"{change.region}: out over {change.cable}, back over {change.after}",
    }
    tags = {"region": change.region, "cable": change.cable, "landing_station": station}
    return line("return_path", tags, fields, int(change.since_s * 1e9))


def sla_line(status: SlaStatus, when_s: float) -> str:
    fields: dict[str, FieldValue | None] = {
        "availability_pct": status.availability_pct,
        "good_minutes": status.good_minutes,
        "bad_minutes": status.bad_minutes,
        "nodata_minutes": status.nodata_minutes,
        "excluded_minutes": status.excluded_minutes,
        "budget_left_pct": status.budget_left_pct,
        "rtt_p95_ms": status.rtt_p95_ms,
        "loss_pct": status.loss_pct,
        "ttft_p95_ms": status.ttft_p95_ms,
        "compliant": status.compliant,
        "ongoing": status.ongoing,
    }
    fields |= {f"burn_{w}": v for w, v in status.burn_rates.items()}
    tags = {"customer": status.customer, "region": status.region, "cable": status.cable}
    return line("sla", tags, fields, int(when_s * 1e9))


def recommendation_line(rec: Recommendation, version: int, token: int | None = None) -> str:
    mine = next((x.score_ms for x in rec.scores if x.cable == rec.cable), None)
    scores = {x.cable: x.score_ms for x in rec.scores}
    tags = {"region": rec.region, "cable": rec.cable, "previous": rec.previous or "",
            "kind": rec.kind}  # fmt: skip
    window = {x.cable: x.stats.window() for x in rec.scores if x.stats is not None}
    fields: dict[str, FieldValue | None] = {
        "version": version,
        "cable_name": rec.cable,
        "reason": rec.reason,
        "score_ms": mine,
        "scores": json.dumps(scores, sort_keys=True),
        "window": json.dumps(window, sort_keys=True),
        "lease_token": token,
    }
    return line("recommendation", tags, fields, int(rec.since_s * 1e9))


def minute_line(region: str, cable: str, m: Minute) -> str:
    """A path's 1-minute rollup (what the SLA and the reports read instead of raw points)."""
    fields: dict[str, FieldValue | None] = {
        "sent": m.sent,
        "received": m.received,
        "rtt_median_ms": m.median_rtt_ms,
        "rtt_p95_ms": m.rtt_p95_ms,
        "jitter_ms": m.jitter_ms,
        "ttft_p95_ms": m.ttft_p95_ms,
        "rtt_sketch": m.rtt_sketch.encode() if m.rtt_sketch is not None else None,
    }
    return line("minute", {"region": region, "cable": cable}, fields, m.start_s * 10**9)


def rollup_line(from_ns: int, until_ns: int, when_s: float) -> str:
    """The rollups hold every minute of [from_ns, until_ns) (late points aside)."""
    return line("rollup", {"kind": "minute"}, {"from_ns": from_ns, "until_ns": until_ns},
                int(when_s * 1e9))  # fmt: skip
