"""What the evaluator reads from the system of record (InfluxQL over the agents' schema)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from cablewatch.collectors.influx import InfluxQL
from cablewatch.correlation.classify import PathKey
from cablewatch.correlation.detector import Round
from cablewatch.correlation.routes import TraceSeen
from cablewatch.sla.evaluate import Minute

__all__ = ["minutes", "p95_per_path", "rolled_up", "rollups", "rounds", "service_traces"]

_BY_PATH = 'GROUP BY "region", "cable"'


def _float(value: Any) -> float | None:
    """JSON gives 30 for 30.0: a float field must stay a float when written back."""
    return None if value is None else float(value)


def _rows(series: Iterable[dict[str, Any]]) -> Iterable[tuple[PathKey, dict[str, Any]]]:
    for s in series:
        tags = s.get("tags") or {}
        key = (tags.get("region", ""), tags.get("cable", ""))
        for values in s.get("values", []):
            yield key, dict(zip(s["columns"], values, strict=True))


def _settled(
    series: Iterable[dict[str, Any]], required: Collection[str]
) -> Iterable[tuple[PathKey, dict[str, Any]]]:
    """The rows of each series (one per path, in time order) up to the first that lacks one of
    the ``required`` fields, which every point of the measurement carries.

    InfluxDB 1.x makes a point's fields visible one by one while its write is in progress: a
    query can see a round's ``packets_transmitted`` and not yet its ``packets_received``
    (measured: 800 of 2.2 million rows read beside a writer). Such a row is not a round with
    no replies; it and the path's later rows wait for the next pass, which finds them whole."""
    for s in series:
        tags = s.get("tags") or {}
        key = (tags.get("region", ""), tags.get("cable", ""))
        for values in s.get("values", []):
            row = dict(zip(s["columns"], values, strict=True))
            if any(row.get(name) is None for name in required):
                break
            yield key, row


_ROUND_FIELDS = ("packets_transmitted", "packets_received")
"""What every ``ping`` point carries (the median and jitter are absent when all was lost)."""
_TRACE_FIELDS = ("route_cable", "hops", "reached")
"""What every ``trace`` point carries (``rtt_ms`` is absent when it did not reach)."""


async def rounds(ql: InfluxQL, since_ns: int) -> list[Round]:
    """ICMP rounds that started after ``since_ns``, per path in time order; a path's rounds
    end before the first one whose write is still in progress (:func:`_settled`)."""
    q = (
        'SELECT "packets_transmitted", "packets_received", "median_response_ms", "jitter_ms" '
        'FROM "ping" '
        f"WHERE time > {since_ns} AND \"protocol\" = 'icmp' {_BY_PATH}"
    )
    out = []
    for (region, cable), row in _settled(await ql.query(q), _ROUND_FIELDS):
        sent = row["packets_transmitted"]
        if not sent:  # a round that could not send (no route, socket error): no verdict
            continue
        out.append(
            Round(
                region,
                cable,
                row["time"] / 1e9,
                int(sent),
                int(row["packets_received"]),
                row["median_response_ms"],
                row["jitter_ms"],
            )
        )
    return out


async def service_traces(ql: InfluxQL, since_ns: int) -> list[TraceSeen]:
    """Traces of every region's service path taken after ``since_ns``, in time order."""
    q = (
        'SELECT "route_cable", "hops", "reached", "rtt_ms" FROM "trace" '
        f'WHERE time > {since_ns} AND "path" = \'service\' GROUP BY "region"'
    )
    out = [
        TraceSeen(
            region,
            row["time"] / 1e9,
            row["route_cable"],
            tuple(row["hops"].split()),
            _float(row["rtt_ms"]),
            bool(row["reached"]),
        )
        for (region, _cable), row in _settled(await ql.query(q), _TRACE_FIELDS)
    ]
    return sorted(out, key=lambda t: t.time_s)


def _only(regions: Collection[str] | None) -> str:
    """A filter on the region tag (ids are lowercase letters, digits and hyphens)."""
    return "" if regions is None else f' AND "region" =~ /^({"|".join(sorted(regions))})$/'


async def minutes(
    ql: InfluxQL, start_ns: int, end_ns: int, regions: Collection[str] | None = None
) -> dict[PathKey, dict[int, Minute]]:
    """Per path and wall-clock minute in [start_ns, end_ns), from the raw points: packets sent
    and received, the median and p95 RTT of the replies, the rounds' mean jitter, the p95 of
    the times to first token."""
    where = f"WHERE time >= {start_ns} AND time < {end_ns}{_only(regions)}"
    by = 'GROUP BY time(1m), "region", "cable" fill(none)'
    counts = await ql.query(
        f'SELECT sum("packets_transmitted") AS "sent", sum("packets_received") AS "received", '
        f'mean("jitter_ms") AS "jitter" FROM "ping" {where} AND "protocol" = \'icmp\' {by}'
    )
    rtts = {
        (key, row["time"] // 10**9): (row["median"], row["p95"])
        for key, row in _rows(
            await ql.query(
                f'SELECT median("rtt_ms") AS "median", percentile("rtt_ms", 95) AS "p95" '
                f'FROM "ping_rtt" {where} {by}'
            )
        )
    }
    ttfts = {
        (key, row["time"] // 10**9): row["p95"]
        for key, row in _rows(
            await ql.query(f'SELECT percentile("ttft_ms", 95) AS "p95" FROM "ttft" {where} {by}')
        )
    }
    out: dict[PathKey, dict[int, Minute]] = {}
    for key, row in _rows(counts):
        start = row["time"] // 10**9
        median, p95 = rtts.get((key, start), (None, None))
        out.setdefault(key, {})[start] = Minute(
            start, int(row["sent"] or 0), int(row["received"] or 0), _float(median),
            _float(p95), _float(row["jitter"]), _float(ttfts.get((key, start))),
        )  # fmt: skip
    return out


async def rollups(
    ql: InfluxQL, start_ns: int, end_ns: int, regions: Collection[str] | None = None
) -> dict[PathKey, dict[int, Minute]]:
    """The same minutes as :func:`minutes`, from the evaluator's 1-minute rollups."""
    q = (
        'SELECT "sent", "received", "rtt_median_ms", "rtt_p95_ms", "jitter_ms", "ttft_p95_ms" '
        'FROM "minute" '
        f"WHERE time >= {start_ns} AND time < {end_ns}{_only(regions)} {_BY_PATH}"
    )
    out: dict[PathKey, dict[int, Minute]] = {}
    for key, row in _rows(await ql.query(q)):
        start = row["time"] // 10**9
        out.setdefault(key, {})[start] = Minute(
            start, int(row["sent"] or 0), int(row["received"] or 0), _float(row["rtt_median_ms"]),
            _float(row["rtt_p95_ms"]), _float(row["jitter_ms"]), _float(row["ttft_p95_ms"]),
        )  # fmt: skip
    return out


async def rolled_up(ql: InfluxQL) -> tuple[int, int] | None:
    """The span [from, until) (Unix ns) whose minutes the rollups hold; None before any."""
    q = 'SELECT last("until_ns") AS "until", last("from_ns") AS "from" FROM "rollup"'
    for _key, row in _rows(await ql.query(q)):
        if row["until"] is not None and row["from"] is not None:
            return int(row["from"]), int(row["until"])
    return None


async def p95_per_path(
    ql: InfluxQL,
    start_ns: int,
    end_ns: int,
    *,
    measurement: str = "ping_rtt",
    field: str = "rtt_ms",
) -> dict[PathKey, float]:
    """The 95th percentile of every reply's RTT in [start_ns, end_ns), per path; of another
    measurement's field (``ttft``, ``ttft_ms``: the times to first token) if given."""
    q = (
        f'SELECT percentile("{field}", 95) AS "p95" FROM "{measurement}" '
        f"WHERE time >= {start_ns} AND time < {end_ns} {_BY_PATH}"
    )
    return {
        key: float(row["p95"]) for key, row in _rows(await ql.query(q)) if row["p95"] is not None
    }
