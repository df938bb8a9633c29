"""What a report reads from the system of record: the minutes (the evaluator's rollups where
they hold them, raw points after), the stored events and the recommendations."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cablewatch import __version__
from cablewatch.collectors.influx import InfluxQL
from cablewatch.config import Config
from cablewatch.evaluator import reader
from cablewatch.evaluator.sla_minutes import read_minutes
from cablewatch.reports.figures import Report, StoredEvent, Switch, build
from cablewatch.reports.period import Period

__all__ = ["events", "make_report", "switches"]

_LOOKBACK_S = 31 * 86400
"""Events that started up to this long before the period may still be open in it."""


async def events(ql: InfluxQL, start_s: float, end_s: float) -> list[StoredEvent]:
    q = (
        'SELECT "event_id", "resolved_unix_s", "regions", "severity", "customers", "state" '
        f'FROM "event" WHERE time >= {int((start_s - _LOOKBACK_S) * 1e9)} '
        f'AND time < {int(end_s * 1e9)} GROUP BY "scope", "subject", "cable"'
    )
    out = []
    for s in await ql.query(q):
        tags = s.get("tags") or {}
        for values in s.get("values", []):
            row: dict[str, Any] = dict(zip(s["columns"], values, strict=True))
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
    for s in await ql.query(q):
        tags = s.get("tags") or {}
        for values in s.get("values", []):
            row: dict[str, Any] = dict(zip(s["columns"], values, strict=True))
            out.append(Switch(tags.get("region", ""), row["cable_name"],
                              tags.get("previous") or None, row["time"] / 1e9,
                              tags.get("kind", ""), row["reason"] or ""))  # fmt: skip
    return sorted(out, key=lambda w: w.at_s)


async def make_report(
    config: Config, ql: InfluxQL, customer: str, period: Period, *, now_s: float | None = None
) -> Report:
    """``customer``'s report over ``period``, from InfluxDB."""
    policy = config.sla(customer)
    now = time.time() if now_s is None else now_s
    end_s = max(period.start_s, min(period.end_s, int(now // 60 * 60)))
    minutes, (lo, hi) = await read_minutes(ql, period.start_s * 10**9, end_s * 10**9,
                                           rolled=await reader.rolled_up(ql),
                                           regions=policy.regions)  # fmt: skip
    mine = {k: v for k, v in minutes.items() if k[0] in policy.regions and k[1] in policy.cables}
    found_events = await events(ql, period.start_s, end_s)
    found_switches = await switches(ql, period.start_s - _LOOKBACK_S, end_s)
    report = await asyncio.to_thread(
        build, policy, mine, start_s=period.start_s, end_s=period.end_s, label=period.label,
        timezone=config.report.timezone, now_s=now, version=__version__,
        maintenance=config.maintenance, events=found_events, switches=found_switches,
    )  # fmt: skip
    report.rollup_minutes = (hi - lo) // 60 // 10**9
    report.raw_minutes = (end_s - period.start_s) // 60 - report.rollup_minutes
    return report
