"""What fault detection and the route trackers read: ICMP rounds, service-path traces, and the
return cable STAMP rounds named."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from cablewatch.collectors.influx import InfluxQL, literal
from cablewatch.collectors.read.rows import BY_PATH, as_float, only, settled
from cablewatch.correlation.detector import Round
from cablewatch.correlation.returns import ReturnSeen
from cablewatch.correlation.routes import TraceSeen
from cablewatch.errors import SinkError
from cablewatch.probes import icmp, stamp, traceroute

__all__ = [
    "ROUND_COLUMNS",
    "RoundRow",
    "Window",
    "path_rounds",
    "return_cables",
    "round_rows",
    "service_traces",
]

_ROUND_FIELDS = ("packets_transmitted", "packets_received")
"""What every round's point carries (the median and jitter are absent when all was lost)."""
_TRACE_FIELDS = ("route_cable", "hops", "reached")
"""What every trace's point carries (``rtt_ms`` is absent when it did not reach)."""


ROUND_COLUMNS = ("time", "region", "cable", "packets_transmitted", "packets_received",
                 "median_response_ms", "jitter_ms", "minimum_response_ms")  # fmt: skip
"""The columns of :func:`round_rows`' rows, in order."""
RoundRow = list[Any]
"""[time_ns, region, cable, sent, received, median_ms, jitter_ms, min_ms]; a field whose
write is still in progress is None (rows.settled)."""


Window = tuple[int, int | None, Collection[str] | None]
"""Rounds that started after ``since_ns`` (and up to ``until_ns``), of ``regions`` or all."""


async def round_rows(ql: InfluxQL, windows: Sequence[Window]) -> list[list[RoundRow]]:
    """Per window, its ICMP rounds' rows, every path's in one list in time order: one request
    for all windows.

    Tags are read as columns, without GROUP BY: InfluxDB 1.x answers a window of 27,000 paths
    about twice as fast so (one series in the answer, not one per path)."""
    if not windows:
        return []
    fields = ", ".join(f'"{c}"' for c in ROUND_COLUMNS[1:])
    q = ";".join(
        f'SELECT {fields} FROM "{icmp.MEASUREMENT}" WHERE time > {since_ns} '
        + ("" if until_ns is None else f"AND time <= {until_ns} ")
        + f"AND \"protocol\" = '{icmp.SPEC.protocol}'{only(regions)}"
        for since_ns, until_ns, regions in windows
    )
    out: list[list[RoundRow]] = []
    for series in await ql.statements(q):
        found: list[RoundRow] = []
        for s in series:
            if tuple(s["columns"]) != ROUND_COLUMNS:
                raise SinkError(ql.name, "rejected", f"unexpected columns {s['columns']}")
            found += s.get("values") or []
        out.append(found)
    return out


async def service_traces(ql: InfluxQL, since_ns: int) -> list[TraceSeen]:
    """Traces of every region's service path taken after ``since_ns``, in time order."""
    q = (
        f'SELECT "route_cable", "hops", "reached", "rtt_ms" FROM "{traceroute.MEASUREMENT}" '
        f'WHERE time > {since_ns} AND "path" = \'service\' GROUP BY "region"'
    )
    out = [
        TraceSeen(region, row["time"] / 1e9, row["route_cable"], tuple(row["hops"].split()),
                  as_float(row["rtt_ms"]), bool(row["reached"]))
        for (region, _cable), row in settled(await ql.query(q), _TRACE_FIELDS)
    ]  # fmt: skip
    return sorted(out, key=lambda t: t.time_s)


async def return_cables(ql: InfluxQL, since_ns: int) -> list[ReturnSeen]:
    """The return cable each STAMP round after ``since_ns`` named (rounds whose one-way
    figures were trusted name one), in time order."""
    q = f'SELECT "return_cable" FROM "{stamp.MEASUREMENT}" WHERE time > {since_ns} {BY_PATH}'
    out = [ReturnSeen(region, cable, row["time"] / 1e9, str(row["return_cable"]))
           for (region, cable), row in settled(await ql.query(q), ("return_cable",))]  # fmt: skip
    return sorted(out, key=lambda s: s.time_s)


async def path_rounds(ql: InfluxQL, region: str, cable: str, from_ns: int,
                      to_ns: int) -> list[Round]:  # fmt: skip
    """One path's ICMP rounds that started in [from_ns, to_ns], in time order (what a
    decision judged, read back: `cablewatch explain`)."""
    q = (
        'SELECT "packets_transmitted", "packets_received", "median_response_ms", "jitter_ms" '
        f'FROM "{icmp.MEASUREMENT}" WHERE time >= {from_ns} AND time <= {to_ns} '
        f'AND "protocol" = \'{icmp.SPEC.protocol}\' AND "region" = {literal(region)} '
        f'AND "cable" = {literal(cable)} {BY_PATH}'
    )
    return [Round(region, cable, row["time"] / 1e9, int(row["packets_transmitted"]),
                  int(row["packets_received"]), row["median_response_ms"], row["jitter_ms"])
            for _key, row in settled(await ql.query(q), _ROUND_FIELDS)
            if row["packets_transmitted"]]  # fmt: skip
