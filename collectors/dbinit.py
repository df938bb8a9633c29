"""``cablewatch db init``: the database and its retention policies.

- ``raw`` (default policy): every point as the agents and the evaluator write them, kept
  ``raw_days`` (30).
- ``rollup``: the evaluator's 1-minute rollups (measurement ``minute``: packets, RTT median,
  p95 and sketch, jitter, TTFT p95; and ``rollup``, the span they hold), kept ``rollup_days``
  (400): what ``sla status``, the SLA reports (also for periods older than the raw points)
  and the long-range dashboards read. One mechanism fills them, the evaluator, which also
  rolls up again the minutes that late points reach (collectors/read/minutes.py).

Continuous queries of earlier versions (``ping_1m``, ``ping_rtt_1m``: a second, overlapping
rollup that nothing read) are dropped. Idempotent: existing policies are altered to the wanted
durations.
"""

from __future__ import annotations

from cablewatch.collectors.influx import ROLLUP, InfluxQL

__all__ = ["RETIRED_QUERIES", "init_database"]

RETIRED_QUERIES = ("ping_1m", "ping_rtt_1m")
"""Continuous queries ``db init`` made before the evaluator's rollups were the one path."""


async def init_database(ql: InfluxQL, *, raw_days: int = 30, rollup_days: int = 400) -> list[str]:
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
    for name, days, default in (("raw", raw_days, True), (ROLLUP, rollup_days, False)):
        verb = "ALTER" if name in existing else "CREATE"
        dflt = " DEFAULT" if default else ""
        await ql.query(
            f'{verb} RETENTION POLICY "{name}" ON "{db}" DURATION {days}d REPLICATION 1{dflt}',
            database="",
        )
        how = "altered" if verb == "ALTER" else "created"
        done.append(f"retention policy {name}: {days} days{dflt.lower()} ({how})")
    current: set[str] = set()
    for s in await ql.query("SHOW CONTINUOUS QUERIES", database=""):
        if s.get("name") == db:
            current |= {row[0] for row in s.get("values", [])}
    for name in RETIRED_QUERIES:
        if name in current:
            await ql.query(f'DROP CONTINUOUS QUERY "{name}" ON "{db}"', database="")
            done.append(f"continuous query {name}: dropped (the evaluator's rollups replace it)")
    return done
