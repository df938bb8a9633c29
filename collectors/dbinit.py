"""``cablewatch db init``: the database, its retention policies and continuous queries.

- ``raw`` (default policy): every point as written, kept ``raw_days`` (40: the evaluator's
  1-minute rollups, which the SLA reports read, live here too, and a 31-day month must still
  be whole when its report is made).
- ``rollup``: per-minute rollups kept ``rollup_days``, filled by continuous queries:
  ``ping_1m`` (min / mean / max of the rounds' RTT statistics, loss from the packet counts,
  per series) and ``ping_rtt_1m`` (p50 / p95 / p99 over every packet of the minute).

Idempotent: existing policies are altered to the wanted durations; continuous queries are
created when missing and replaced when their definition changed.
"""

from __future__ import annotations

from cablewatch.collectors.influx import InfluxQL

__all__ = ["continuous_queries", "init_database"]


def continuous_queries(db: str) -> dict[str, str]:
    by = "GROUP BY time(1m), *"
    return {
        "ping_1m": (
            f'SELECT min("minimum_response_ms") AS "min_ms", mean("average_response_ms") AS '
            f'"mean_ms", max("maximum_response_ms") AS "max_ms", '
            f'sum("packets_transmitted") AS "sent", sum("packets_received") AS "received", '
            f'100 * (1 - sum("packets_received") / sum("packets_transmitted")) AS "loss_pct" '
            f'INTO "{db}"."rollup"."ping_1m" FROM "{db}"."raw"."ping" {by}'
        ),
        "ping_rtt_1m": (
            f'SELECT percentile("rtt_ms", 50) AS "p50_ms", percentile("rtt_ms", 95) AS "p95_ms", '
            f'percentile("rtt_ms", 99) AS "p99_ms", count("rtt_ms") AS "replies" '
            f'INTO "{db}"."rollup"."ping_rtt_1m" FROM "{db}"."raw"."ping_rtt" {by}'
        ),
    }


async def init_database(ql: InfluxQL, *, raw_days: int = 40, rollup_days: int = 400) -> list[str]:
    """Create or update; returns what was done, one line each."""
    db = ql.sink.database
    done: list[str] = []
    await ql.query(f'CREATE DATABASE "{db}"', database="")
    done.append(f"database {db}: present")
    existing = {
        row[0]: row
        for s in await ql.query(f'SHOW RETENTION POLICIES ON "{db}"', database="")
        for row in s.get("values", [])
    }
    for name, days, default in (("raw", raw_days, True), ("rollup", rollup_days, False)):
        verb = "ALTER" if name in existing else "CREATE"
        dflt = " DEFAULT" if default else ""
        await ql.query(
            f'{verb} RETENTION POLICY "{name}" ON "{db}" DURATION {days}d REPLICATION 1{dflt}',
            database="",
        )
        how = "altered" if verb == "ALTER" else "created"
        done.append(f"retention policy {name}: {days} days{dflt.lower()} ({how})")
    current: dict[str, str] = {}
    for s in await ql.query("SHOW CONTINUOUS QUERIES", database=""):
        if s.get("name") == db:
            current |= {row[0]: row[1] for row in s.get("values", [])}
    for name, select in continuous_queries(db).items():
        statement = f'CREATE CONTINUOUS QUERY "{name}" ON "{db}" BEGIN {select} END'
        if name in current and _normal(current[name]) == _normal(statement):
            done.append(f"continuous query {name}: unchanged")
            continue
        if name in current:
            await ql.query(f'DROP CONTINUOUS QUERY "{name}" ON "{db}"', database="")
        await ql.query(statement, database="")
        done.append(f"continuous query {name}: {'replaced' if name in current else 'created'}")
    return done


def _normal(text: str) -> str:
    return "".join(text.lower().replace('"', "").split())
