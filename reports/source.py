"""A report from the system of record: the minutes (the evaluator's rollups where they hold
them, raw points after), the stored events and the recommendations (collectors/read/)."""

from __future__ import annotations

import asyncio
import time

from cablewatch import __version__
from cablewatch.collectors.influx import InfluxQL
from cablewatch.collectors.read.history import LOOKBACK_S, events, switches
from cablewatch.collectors.read.minutes import first_measured, read_minutes, rolled_up
from cablewatch.config import Config
from cablewatch.reports.figures import Report, build
from cablewatch.reports.period import Period

__all__ = ["make_report"]


async def make_report(
    config: Config, ql: InfluxQL, customer: str, period: Period, *, now_s: float | None = None
) -> Report:
    """``customer``'s report over ``period``, from InfluxDB."""
    policy = config.sla(customer)
    now = time.time() if now_s is None else now_s
    end_s = max(period.start_s, min(period.end_s, int(now // 60 * 60)))
    minutes, (lo, hi) = await read_minutes(ql, period.start_s * 10**9, end_s * 10**9,
                                           rolled=await rolled_up(ql),
                                           regions=policy.regions)  # fmt: skip
    mine = {k: v for k, v in minutes.items() if k[0] in policy.regions and k[1] in policy.cables}
    found_events = await events(ql, period.start_s, end_s)
    found_switches = await switches(ql, period.start_s - LOOKBACK_S, end_s)
    report = await asyncio.to_thread(
        build, policy, mine, start_s=period.start_s, end_s=period.end_s, label=period.label,
        timezone=config.report.timezone, now_s=now, version=__version__,
        maintenance=config.maintenance, events=found_events, switches=found_switches,
        names={r.id: r.name for r in config.topology.regions}, began_s=await first_measured(ql),
    )  # fmt: skip
    report.rollup_minutes = (hi - lo) // 60 // 10**9
    report.raw_minutes = (end_s - period.start_s) // 60 - report.rollup_minutes
    return report
