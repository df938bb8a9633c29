"""InfluxQL answers as rows: each series' values as dicts, keyed by path."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

__all__ = ["BY_PATH", "PathKey", "as_float", "only", "rows", "series_rows", "settled"]

PathKey = tuple[str, str]
"""(region, cable)."""
BY_PATH = 'GROUP BY "region", "cable"'


def as_float(value: Any) -> float | None:
    """JSON gives 30 for 30.0: a float field must stay a float when written back."""
    return None if value is None else float(value)


def series_rows(
    series: Iterable[dict[str, Any]],
) -> Iterable[tuple[dict[str, str], list[dict[str, Any]]]]:
    """Each series' tags and its values as dicts keyed by column (``time`` included)."""
    for s in series:
        columns = s["columns"]
        yield (s.get("tags") or {}), [dict(zip(columns, v, strict=True))
                                      for v in s.get("values", [])]  # fmt: skip


def _path(tags: dict[str, str]) -> PathKey:
    return tags.get("region", ""), tags.get("cable", "")


def rows(series: Iterable[dict[str, Any]]) -> Iterable[tuple[PathKey, dict[str, Any]]]:
    for tags, found in series_rows(series):
        for row in found:
            yield _path(tags), row


def settled(
    series: Iterable[dict[str, Any]], required: Collection[str]
) -> Iterable[tuple[PathKey, dict[str, Any]]]:
    """The rows of each series (one per path, in time order) up to the first that lacks one of
    the ``required`` fields, which every point of the measurement carries.

    InfluxDB 1.x makes a point's fields visible one by one while its write is in progress: a
    query can see a round's ``packets_transmitted`` and not yet its ``packets_received``
    (measured: 800 of 2.2 million rows read beside a writer). Such a row is not a round with
    no replies; it and the path's later rows wait for the next read, which finds them whole."""
    for tags, found in series_rows(series):
        for row in found:
            if any(row.get(name) is None for name in required):
                break
            yield _path(tags), row


def only(regions: Collection[str] | None) -> str:
    """A filter on the region tag (ids are lowercase letters, digits and hyphens)."""
    return "" if regions is None else f' AND "region" =~ /^({"|".join(sorted(regions))})$/'
