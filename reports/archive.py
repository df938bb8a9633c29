"""Closed periods' reports, made once by ``cablewatch serve`` and kept in ``[report] dir``:
``<dir>/<customer>/<YYYY-MM>.pdf`` and ``.json``, written atomically (a file that exists is
complete), then announced with a ``report.ready`` webhook."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cablewatch.collectors.influx import InfluxQL
from cablewatch.config import Config
from cablewatch.reports.period import previous_month
from cablewatch.reports.produce import produce
from cablewatch.reports.render import to_json

__all__ = ["close_periods"]

log = logging.getLogger("cablewatch.reports")


def _write(path: Path, body: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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
