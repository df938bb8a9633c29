"""Settings of the SLA reports (``[report]``)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

from cablewatch.schema import Str, Table

__all__ = ["ReportSettings"]


@dataclass(frozen=True, slots=True)
class ReportSettings:
    timezone: str = "UTC"
    """IANA name: periods (a month, a day's bar) start at midnight in this zone."""
    dir: str = ""
    """Where ``cablewatch serve`` stores each closed month's reports; empty: it makes none."""

    @classmethod
    def from_table(cls, t: Table | None) -> ReportSettings:
        if t is None:
            return cls()
        v = t.read(timezone=Str(), dir=Str())
        t.finish()
        if "timezone" in v:
            try:
                zoneinfo.ZoneInfo(v["timezone"])
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                t.problem("timezone", f"got {v['timezone']!r}, expected an IANA time zone "
                          "such as 'UTC' or 'Asia/Singapore'")  # fmt: skip
                del v["timezone"]
        return cls(**v)
