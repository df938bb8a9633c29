"""What the SLA, ``sla status`` and reports count: each path's minutes (packets sent and
received, RTT median and p95, jitter, TTFT p95), from the raw points or from the evaluator's
1-minute rollups, and percentiles over an objective's window."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cablewatch.collectors.influx import ROLLUP, InfluxQL
from cablewatch.collectors.lineprotocol import BACKFILL
from cablewatch.collectors.read.rows import BY_PATH, PathKey, as_float, only, rows, series_rows
from cablewatch.probes import icmp, ttft
from cablewatch.sla.evaluate import Minute
from cablewatch.sla.sketch import RttSketch

__all__ = [
    "LATE_S",
    "Backfill",
    "backfills",
    "first_measured",
    "median",
    "minutes",
    "nearest_rank",
    "read_minutes",
    "rolled_up",
    "rollups",
    "rtt_p95_per_path",
    "ttft_p95_per_path",
]

LATE_S = 600
"""The last 10 minutes of the rollups are read from the raw points again: late points."""
_DAY_NS = 86400 * 10**9
_MINUTE_NS = 60 * 10**9
_ROLLUPS = f'"{ROLLUP}"."minute"'
_WATERMARK = f'"{ROLLUP}"."rollup"'


async def minutes(
    ql: InfluxQL, start_ns: int, end_ns: int, regions: Collection[str] | None = None
) -> dict[PathKey, dict[int, Minute]]:
    """Per path and wall-clock minute in [start_ns, end_ns), from the raw points: packets sent
    and received, the median and p95 RTT of the replies (InfluxQL's definitions) and their
    sketch, the rounds' mean jitter, the p95 of the times to first token."""
    where = f"WHERE time >= {start_ns} AND time < {end_ns}{only(regions)}"
    by = 'GROUP BY time(1m), "region", "cable" fill(none)'
    # a round InfluxDB shows half written (its fields appear one by one, rows.settled) is
    # not counted: sent without received would be false loss; the next read finds it whole
    counts = await ql.query(
        f'SELECT sum("packets_transmitted") AS "sent", sum("packets_received") AS "received", '
        f'mean("jitter_ms") AS "jitter" FROM "{icmp.MEASUREMENT}" {where} '
        f"AND \"protocol\" = '{icmp.SPEC.protocol}' "
        f'AND "packets_transmitted" >= 0 AND "packets_received" >= 0 {by}'
    )
    replies: dict[tuple[PathKey, int], list[float]] = {}
    for key, row in rows(await ql.query(
        f'SELECT "rtt_ms" FROM "{icmp.REPLY_MEASUREMENT}" {where} {BY_PATH}'
    )):  # fmt: skip
        if row["rtt_ms"] is not None:
            replies.setdefault((key, row["time"] // 60_000_000_000 * 60), []).append(
                float(row["rtt_ms"])
            )
    ttfts = {
        (key, row["time"] // 10**9): row["p95"]
        for key, row in rows(
            await ql.query(
                f'SELECT percentile("ttft_ms", 95) AS "p95" FROM "{ttft.MEASUREMENT}" {where} {by}'
            )
        )
    }
    out: dict[PathKey, dict[int, Minute]] = {}
    for key, row in rows(counts):
        start = row["time"] // 10**9
        rtts = sorted(replies.get((key, start), ()))
        out.setdefault(key, {})[start] = Minute(
            start, int(row["sent"] or 0), int(row["received"] or 0), median(rtts),
            nearest_rank(rtts, 0.95), as_float(row["jitter"]), as_float(ttfts.get((key, start))),
            RttSketch.of(rtts) if rtts else None,
        )  # fmt: skip
    return out


def median(ordered: Sequence[float]) -> float | None:
    """InfluxQL's median of sorted values: the middle one, or the mean of the middle two."""
    n = len(ordered)
    if n == 0:
        return None
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def nearest_rank(ordered: Sequence[float], q: float) -> float | None:
    """InfluxQL's percentile of sorted values: the value at rank floor(n x q + 0.5)."""
    if not ordered:
        return None
    return ordered[max(0, math.floor(len(ordered) * q + 0.5) - 1)]


async def rollups(
    ql: InfluxQL, start_ns: int, end_ns: int, regions: Collection[str] | None = None
) -> dict[PathKey, dict[int, Minute]]:
    """The same minutes as :func:`minutes`, from the evaluator's 1-minute rollups. A span of
    days is read in parallel parts: influxd answers one while this process decodes another
    (a month of 18 paths: 22 s in one query, 15 s in two or more, on 2 cores)."""
    if end_ns - start_ns <= _PART_NS:
        return await _rollups(ql, start_ns, end_ns, regions)
    step = -(-(end_ns - start_ns) // _PARTS)
    out: dict[PathKey, dict[int, Minute]] = {}
    for part in await asyncio.gather(*(
        _rollups(ql, a, min(a + step, end_ns), regions) for a in range(start_ns, end_ns, step)
    )):  # fmt: skip
        for key, found in part.items():
            out.setdefault(key, {}).update(found)
    return out


_PART_NS = 2 * 86400 * 10**9
_PARTS = 4


async def _rollups(
    ql: InfluxQL, start_ns: int, end_ns: int, regions: Collection[str] | None
) -> dict[PathKey, dict[int, Minute]]:
    q = (
        'SELECT "sent", "received", "rtt_median_ms", "rtt_p95_ms", "jitter_ms", "ttft_p95_ms", '
        f'"rtt_sketch" FROM {_ROLLUPS} '
        f"WHERE time >= {start_ns} AND time < {end_ns}{only(regions)} {BY_PATH}"
    )
    out: dict[PathKey, dict[int, Minute]] = {}
    for key, row in rows(await ql.query(q)):
        start = row["time"] // 10**9
        sketch = row["rtt_sketch"]
        out.setdefault(key, {})[start] = Minute(
            start, int(row["sent"] or 0), int(row["received"] or 0),
            as_float(row["rtt_median_ms"]), as_float(row["rtt_p95_ms"]),
            as_float(row["jitter_ms"]), as_float(row["ttft_p95_ms"]),
            RttSketch.decode(sketch) if sketch else None,
        )  # fmt: skip
    return out


async def rolled_up(ql: InfluxQL) -> tuple[int, int] | None:
    """The span [from, until) (Unix ns) whose minutes the rollups hold; None before any."""
    q = f'SELECT last("until_ns") AS "until", last("from_ns") AS "from" FROM {_WATERMARK}'
    for _key, row in rows(await ql.query(q)):
        if row["until"] is not None and row["from"] is not None:
            return int(row["from"]), int(row["until"])
    return None


async def first_measured(ql: InfluxQL) -> int | None:
    """The first minute (Unix s) any path was measured in: when monitoring began, by the
    rollups (kept 400 days) or the raw rounds (for a deployment whose evaluator has not rolled
    up yet); None before any round is stored. An SLA period's minutes before it are not
    counted: they are no probe gap, there was nothing yet to probe with."""
    found = []
    for q in (f'SELECT first("sent") FROM {_ROLLUPS}',
              f'SELECT first("packets_transmitted") FROM "{icmp.MEASUREMENT}" '
              f"WHERE \"protocol\" = '{icmp.SPEC.protocol}'"):  # fmt: skip
        found += [int(row["time"]) for _key, row in rows(await ql.query(q))]
    return min(found) // _MINUTE_NS * 60 if found else None


async def read_minutes(
    ql: InfluxQL,
    start_ns: int,
    end_ns: int,
    *,
    rolled: tuple[int, int] | None,
    regions: Collection[str] | None = None,
    late_s: float = LATE_S,
) -> tuple[dict[PathKey, dict[int, Minute]], tuple[int, int]]:
    """Every path's minutes in [start_ns, end_ns): from the rollups where ``rolled`` (their
    span [from, until)) holds them, less ``late_s`` at its end (points may still arrive
    there); from the raw points elsewhere, a day per query. Returns them and the span read
    from the rollups."""
    out: dict[PathKey, dict[int, Minute]] = {}
    lo = hi = start_ns
    if rolled is not None:
        lo = min(end_ns, max(start_ns, rolled[0]))
        late_ns = -(-int(late_s * 10**9) // _MINUTE_NS) * _MINUTE_NS  # whole minutes
        hi = min(end_ns, max(lo, rolled[1] - late_ns))
    if hi > lo:
        for key, found in (await rollups(ql, lo, hi, regions)).items():
            out.setdefault(key, {}).update(found)
    for a, b in ((start_ns, lo), (hi, end_ns)):
        chunk = a
        while chunk < b:
            upto = min(chunk + _DAY_NS, b)
            for key, found in (await minutes(ql, chunk, upto, regions)).items():
                out.setdefault(key, {}).update(found)
            chunk = upto
    return out, (lo, hi)


async def _p95_per_path(ql: InfluxQL, measurement: str, field: str, start_ns: int,
                        end_ns: int) -> dict[PathKey, float]:  # fmt: skip
    q = (
        f'SELECT percentile("{field}", 95) AS "p95" FROM "{measurement}" '
        f"WHERE time >= {start_ns} AND time < {end_ns} {BY_PATH}"
    )
    return {
        key: float(row["p95"]) for key, row in rows(await ql.query(q)) if row["p95"] is not None
    }


async def rtt_p95_per_path(ql: InfluxQL, start_ns: int, end_ns: int) -> dict[PathKey, float]:
    """The 95th percentile of every reply's RTT in [start_ns, end_ns), per path."""
    return await _p95_per_path(ql, icmp.REPLY_MEASUREMENT, "rtt_ms", start_ns, end_ns)


async def ttft_p95_per_path(ql: InfluxQL, start_ns: int, end_ns: int) -> dict[PathKey, float]:
    """The 95th percentile of the times to first token in [start_ns, end_ns), per path."""
    return await _p95_per_path(ql, ttft.MEASUREMENT, "ttft_ms", start_ns, end_ns)


@dataclass(frozen=True, slots=True)
class Backfill:
    """An agent's note that it stored the rounds of [from_ns, until_ns) late."""

    host: str
    region: str
    at_ns: int
    from_ns: int
    until_ns: int
    rounds: int


async def backfills(ql: InfluxQL, since_ns: int) -> list[Backfill]:
    """The agents' notes of late rounds written after ``since_ns`` (by their clocks)."""
    q = (f'SELECT "from_ns", "until_ns", "rounds" FROM "{BACKFILL}" WHERE time > {since_ns} '
         'GROUP BY "host", "region"')  # fmt: skip
    out = []
    for tags, found in series_rows(await ql.query(q)):
        for row in found:
            if row["from_ns"] is None or row["until_ns"] is None:
                break  # a note still being written: the next read finds it whole
            out.append(Backfill(tags.get("host", ""), tags.get("region", ""), int(row["time"]),
                                int(row["from_ns"]), int(row["until_ns"]),
                                int(row["rounds"] or 0)))  # fmt: skip
    return out
