"""What reports tell besides the minutes: the stored events and the recommendation changes,
as the evaluator wrote them (measurements ``event`` and ``recommendation``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cablewatch.collectors.influx import InfluxQL, literal
from cablewatch.collectors.read.records import StoredEvent, Switch
from cablewatch.collectors.read.rows import series_rows

__all__ = [
    "LOOKBACK_S",
    "StoredEvent",
    "StoredRecommendation",
    "Switch",
    "events",
    "last_recommendation",
    "switches",
]

LOOKBACK_S = 31 * 86400
"""Events that started up to this long before a period may still be open in it."""


async def events(ql: InfluxQL, start_s: float, end_s: float) -> list[StoredEvent]:
    q = (
        'SELECT "event_id", "resolved_unix_s", "regions", "severity", "customers", "state" '
        f'FROM "event" WHERE time >= {int((start_s - LOOKBACK_S) * 1e9)} '
        f'AND time < {int(end_s * 1e9)} GROUP BY "scope", "subject", "cable"'
    )
    out = []
    for tags, found in series_rows(await ql.query(q)):
        for row in found:
            out.append(StoredEvent(
                id=row["event_id"] or "",
                scope=tags.get("scope", ""),
                subject=tags.get("subject", ""),
                cable=tags.get("cable", ""),
                start_s=row["time"] / 1e9,
                end_s=row["resolved_unix_s"],
                regions=tuple(r for r in (row["regions"] or "").split(",") if r),
                severity=row["severity"] or "",
                customers=tuple(c for c in (row["customers"] or "").split(",") if c),
            ))  # fmt: skip
    return out


async def switches(ql: InfluxQL, start_s: float, end_s: float) -> list[Switch]:
    q = (
        'SELECT "reason", "cable_name" FROM "recommendation" '
        f"WHERE time >= {int(start_s * 1e9)} AND time < {int(end_s * 1e9)} "
        'GROUP BY "region", "previous", "kind"'
    )
    out = []
    for tags, found in series_rows(await ql.query(q)):
        for row in found:
            out.append(Switch(tags.get("region", ""), row["cable_name"],
                              tags.get("previous") or None, row["time"] / 1e9,
                              tags.get("kind", ""), row["reason"] or ""))  # fmt: skip
    return sorted(out, key=lambda w: w.at_s)


@dataclass(frozen=True, slots=True)
class StoredRecommendation:
    """A recommendation as the evaluator stored it, with the window each cable was judged on
    (its rounds' span, counts and RTT percentiles)."""

    region: str
    at_s: float
    cable: str
    previous: str
    kind: str
    reason: str
    window: dict[str, dict[str, Any]]


async def last_recommendation(ql: InfluxQL, region: str) -> StoredRecommendation | None:
    """``region``'s latest recommendation (a move, or its first choice); None before any."""
    q = (
        'SELECT "cable_name", "reason", "window" FROM "recommendation" '
        f'WHERE "region" = {literal(region)} GROUP BY "previous", "kind" ORDER BY time DESC '
        "LIMIT 1"
    )
    found = []
    for tags, rows in series_rows(await ql.query(q)):
        for row in rows:
            found.append(StoredRecommendation(
                region, row["time"] / 1e9, row["cable_name"] or "", tags.get("previous", ""),
                tags.get("kind", ""), row["reason"] or "", json.loads(row["window"] or "{}"),
            ))  # fmt: skip
    return max(found, key=lambda r: r.at_s, default=None)
