"""What fault detection and the route tracker read: ICMP rounds and service-path traces."""

from __future__ import annotations

from cablewatch.collectors.influx import InfluxQL, literal
from cablewatch.collectors.read.rows import BY_PATH, as_float, settled
from cablewatch.correlation.detector import Round
from cablewatch.correlation.routes import TraceSeen
from cablewatch.probes import icmp, traceroute

__all__ = ["path_rounds", "rounds", "service_traces"]

_ROUND_FIELDS = ("packets_transmitted", "packets_received")
"""What every round's point carries (the median and jitter are absent when all was lost)."""
_TRACE_FIELDS = ("route_cable", "hops", "reached")
"""What every trace's point carries (``rtt_ms`` is absent when it did not reach)."""


async def rounds(ql: InfluxQL, since_ns: int) -> list[Round]:
    """ICMP rounds that started after ``since_ns``, per path in time order; a path's rounds
    end before the first one whose write is still in progress (rows.settled)."""
    q = (
        'SELECT "packets_transmitted", "packets_received", "median_response_ms", "jitter_ms" '
        f'FROM "{icmp.MEASUREMENT}" '
        f"WHERE time > {since_ns} AND \"protocol\" = '{icmp.SPEC.protocol}' {BY_PATH}"
    )
    out = []
    for (region, cable), row in settled(await ql.query(q), _ROUND_FIELDS):
        sent = row["packets_transmitted"]
        if not sent:  # a round that could not send (no route, socket error): no verdict
            continue
        out.append(Round(region, cable, row["time"] / 1e9, int(sent),
                         int(row["packets_received"]), row["median_response_ms"],
                         row["jitter_ms"]))  # fmt: skip
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
