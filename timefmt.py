"""Timestamps for people and APIs: RFC 3339 in UTC."""

from __future__ import annotations

import datetime as dt
from typing import overload

__all__ = ["utc_iso"]


@overload
def utc_iso(unix_s: float) -> str: ...
@overload
def utc_iso(unix_s: None) -> None: ...
@overload
def utc_iso(unix_s: float | None) -> str | None: ...


def utc_iso(unix_s: float | None) -> str | None:
    """RFC 3339, UTC, milliseconds; None stays None."""
    if unix_s is None:
        return None
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).isoformat(timespec="milliseconds")
