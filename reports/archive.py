"""Closed periods' reports, made once by ``cablewatch serve`` and kept in ``[report] dir``:
``<dir>/<customer>/<YYYY-MM>.pdf`` and ``.json``, written atomically (a file that exists is
complete), then announced with a ``report.ready`` webhook. A request for a closed month is
answered with what was stored (``stored``): the figures a customer was billed on do not move,
and no month is recomputed per request."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cablewatch.collectors.influx import InfluxQL
from cablewatch.config import Config
from cablewatch.errors import CablewatchError
from cablewatch.reports.period import Period, month, previous_month
from cablewatch.reports.produce import produce
from cablewatch.reports.render import to_json

__all__ = ["close_periods", "stored"]

log = logging.getLogger("cablewatch.reports")


def _write(path: Path, body: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def stored(config: Config, customer: str, period: Period, fmt: str, now_s: float) -> bytes | None:
    """The stored report of ``customer``'s closed month ``period`` in ``fmt`` (pdf or json);
    None when the period is no whole month that has ended, or nothing is stored for it."""
    if not config.report.dir or fmt not in ("pdf", "json") or period.end_s > now_s:
        return None
    try:
        closed = month(period.label, config.report.timezone)
    except CablewatchError:
        return None  # a span, not a month
    if (closed.start_s, closed.end_s) != (period.start_s, period.end_s):
        return None
    path = Path(config.report.dir) / customer / f"{period.label}.{fmt}"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


async def close_periods(
    config: Config, ql: InfluxQL, now_s: float, announce: Callable[[dict[str, Any]], None]
) -> list[Path]:
    """Make every customer's report of the last closed month that is not stored yet."""
    if not config.report.dir:
        return []
    period = previous_month(now_s, config.report.timezone)
    made = []
    for policy in config.slas:
        folder = Path(config.report.dir) / policy.customer
        pdf = folder / f"{period.label}.pdf"
        if pdf.exists():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        report, body = await produce(config, policy.customer, period, "pdf", ql=ql, now_s=now_s)
        _write(folder / f"{period.label}.json", to_json(report))
        _write(pdf, body)
        made.append(pdf)
        log.info("report %s: %s", pdf, report.headline())
        announce({
            "type": "report.ready",
            "customer": policy.customer,
            "period": period.label,
            "met": report.met,
            "credit_pct": report.credit_pct,
            "figures_sha256": report.digest,
            "pdf_sha256": hashlib.sha256(body).hexdigest(),
            "url": f"/v1/customers/{policy.customer}/report?period={period.label}&format=pdf",
        })  # fmt: skip
    return made
