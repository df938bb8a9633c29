"""One report, end to end: read from InfluxDB, compute, render."""

from __future__ import annotations

import asyncio

from cablewatch.collectors.influx import InfluxQL
from cablewatch.config import Config
from cablewatch.reports.figures import Report
from cablewatch.reports.period import Period
from cablewatch.reports.render import Format, render
from cablewatch.reports.source import make_report

__all__ = ["produce"]


async def produce(
    config: Config,
    customer: str,
    period: Period,
    fmt: Format,
    *,
    ql: InfluxQL | None = None,
    now_s: float | None = None,
) -> tuple[Report, bytes]:
    """``customer``'s report over ``period`` in ``fmt``; reads through ``ql`` (or a client of
    its own, closed after)."""
    own = ql is None
    client = ql or InfluxQL(config.influx("reports read from it"))
    try:
        report = await make_report(config, client, customer, period, now_s=now_s)
    finally:
        if own:
            await client.close()
    station = config.topology.landing_station.name
    return report, await asyncio.to_thread(render, report, fmt, station)
