"""Report periods: a calendar month (``2026-11``) or an explicit span, in the report's zone."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from cablewatch.errors import CablewatchError

__all__ = ["Period", "month", "parse", "previous_month", "span"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, slots=True)
class Period:
    start_s: int
    end_s: int
    label: str
    """'2026-11', or 'from .. to ..'."""


def month(text: str, timezone: str) -> Period:
    m = _MONTH.match(text)
    if m is None or not 1 <= int(m[2]) <= 12:
        raise CablewatchError(f"period {text!r}: expected a month such as 2026-11")
    tz = zoneinfo.ZoneInfo(timezone)
    year, mon = int(m[1]), int(m[2])
    start = dt.datetime(year, mon, 1, tzinfo=tz)
    end = dt.datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=tz)
    return Period(int(start.timestamp()), int(end.timestamp()), text)


def _moment(text: str, what: str, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise CablewatchError(f"{what} {text!r}: expected an ISO 8601 time such as "
                              "2026-11-10T02:00:00Z") from exc  # fmt: skip
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def span(start: str, end: str, timezone: str) -> Period:
    """[start, end), each rounded down to its minute; a time without an offset is local."""
    tz = zoneinfo.ZoneInfo(timezone)
    a, b = _moment(start, "--from", tz), _moment(end, "--to", tz)
    start_s, end_s = int(a.timestamp()) // 60 * 60, int(b.timestamp()) // 60 * 60
    if end_s <= start_s:
        raise CablewatchError(f"--to {end} is not after --from {start} (by a minute at least)")
    return Period(start_s, end_s, f"{_short(start_s, tz)} to {_short(end_s, tz)}")


def _short(t: int, tz: zoneinfo.ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M")


def parse(period: str | None, start: str | None, end: str | None, timezone: str) -> Period:
    """``--period`` or ``--from`` with ``--to``: exactly one of the two forms."""
    if period is not None and start is None and end is None:
        return month(period, timezone)
    if period is None and start is not None and end is not None:
        return span(start, end, timezone)
    raise CablewatchError("give --period YYYY-MM, or both --from and --to")


def previous_month(now_s: float, timezone: str) -> Period:
    """The last month that has ended at ``now_s``."""
    local = dt.datetime.fromtimestamp(now_s, zoneinfo.ZoneInfo(timezone))
    year, mon = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return month(f"{year:04d}-{mon:02d}", timezone)
