"""The SLA evaluation's inputs, cached: each path's minutes (packets sent and received, RTT
median and p95, jitter) over the longest SLA period, and the RTT p95 (and the TTFT p95, when a
policy sets ``ttft_p95_ms``) of every policy's objective window up to now. The status is live:
the minute in progress, read from the raw points on every pass (never cached nor rolled up),
counts once it has a round (sla/evaluate.py).

The minutes come from the evaluator's own 1-minute rollups (retention policy ``rollup``,
measurement ``minute``) up to their watermark (measurement ``rollup``), and from the raw points
after it; every minute read from the raw points is written back as a rollup (``pending``), so
that a restart, ``sla status`` and a month's report read 27 x 43,200 small rows instead of a
month of raw packets.

Late points: each pass reads the raw points again back to ``recent_s`` (60 s + the agents'
``backfill_after_s`` + one pass), which every round stored on time falls in. A round stored
later (a spool draining after an outage) comes with its agent's ``backfill`` note of the span
it covers, written once the rounds are stored; each pass reads the notes it has not acted on
and rolls those minutes up again. No pass re-reads a whole window on the chance that late
points arrived.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection

from cablewatch.collectors.influx import InfluxQL
from cablewatch.collectors.read.minutes import (
    backfills,
    first_measured,
    read_minutes,
    rolled_up,
    rtt_p95_per_path,
    ttft_p95_per_path,
)
from cablewatch.collectors.read.minutes import minutes as raw_minutes
from cablewatch.config import Config
from cablewatch.correlation.classify import PathKey
from cablewatch.evaluator.points import minute_line, rollup_line
from cablewatch.sla.evaluate import Minute, SlaStatus, evaluate_path, evaluate_region
from cablewatch.timefmt import utc_iso

__all__ = ["SlaMinutes"]

log = logging.getLogger("cablewatch.evaluator")
_DAY_NS = 86400 * 10**9
_MINUTE_NS = 60 * 10**9
_NOTES_LOOKBACK_NS = 600 * 10**9
"""Notes are read back this far from the newest one seen (agents' clocks may disagree)."""


class SlaMinutes:
    def __init__(self, config: Config, paths: Collection[PathKey]) -> None:
        self.config = config
        self.probed = set(paths)
        self.minutes: dict[PathKey, dict[int, Minute]] = {}
        self.rolled: tuple[int, int] | None = None
        """The span [from, until) (Unix ns) the rollups hold, as far as this process knows."""
        self.pending: list[str] = []
        """Rollup lines for the minutes read from raw points, for the caller to write."""
        self.notes_since_ns = 0
        """Agents' backfill notes are read from here on ..."""
        self.notes_seen: set[tuple[str, int]] = set()
        """... less those acted on, by (host, time)."""
        self.began_s: int | None = None
        """When monitoring began (the first minute measured); the period's minutes before it
        are not counted as no data. Read until found, then kept."""

    @property
    def recent_s(self) -> float:
        """How far back each pass reads the raw points again: a minute is complete 60 s after
        it began, its rounds arrive within ``backfill_after_s`` of starting (later ones come
        with an agent's note), and the next pass is at most ``sla_interval_s`` away; in whole
        minutes (a minute is read whole or not at all)."""
        sink = self.config.sinks.influxdb
        after = sink.backfill_after_s if sink is not None else 30.0
        return math.ceil((60.0 + after + self.config.evaluator.sla_interval_s) / 60) * 60.0

    async def refresh(self, ql: InfluxQL, end_ns: int, now_s: float) -> None:
        policies = self.config.slas
        if not policies:
            return
        start_ns = end_ns - max(p.period_days for p in policies) * _DAY_NS
        if self.rolled is None:
            self.rolled = await rolled_up(ql) or (start_ns, start_ns)
            self.notes_since_ns = self.rolled[1] - _NOTES_LOOKBACK_NS
        fresh, (lo, hi) = await read_minutes(ql, start_ns, end_ns, rolled=self.rolled,
                                             late_s=self.recent_s)  # fmt: skip
        for key, found in fresh.items():
            self.minutes.setdefault(key, {}).update(found)
            self.pending += [minute_line(key[0], key[1], m) for s, m in found.items()
                             if not lo <= s * 10**9 < hi]  # fmt: skip
        await self._backfill(ql, start_ns, hi)
        if self.began_s is None:
            self.began_s = await first_measured(ql)
        # what was read from raw points is rolled up now: the span grows to end_ns, or starts
        # again at start_ns after a gap (the evaluator was away longer than the period)
        first = min(self.rolled[0], start_ns) if self.rolled[1] >= start_ns else start_ns
        self.rolled = (first, end_ns)
        self.pending.append(rollup_line(first, end_ns, now_s))
        oldest = start_ns // 10**9
        for minutes in self.minutes.values():
            for old in [s for s in minutes if s < oldest]:
                del minutes[old]

    async def _backfill(self, ql: InfluxQL, start_ns: int, rolled_ns: int) -> None:
        """Roll up again the minutes that agents stored rounds in late (their ``backfill``
        notes), where they were rolled up already (before ``rolled_ns``)."""
        notes = [n for n in await backfills(ql, self.notes_since_ns)
                 if (n.host, n.at_ns) not in self.notes_seen]  # fmt: skip
        for n in notes:
            self.notes_seen.add((n.host, n.at_ns))
            a = max(start_ns, n.from_ns // _MINUTE_NS * _MINUTE_NS)
            b = min(rolled_ns, -(-n.until_ns // _MINUTE_NS) * _MINUTE_NS)
            if a >= b:
                continue
            again = await raw_minutes(ql, a, b, [n.region] if n.region else None)
            for key, found in again.items():
                self.minutes.setdefault(key, {}).update(found)
                self.pending += [minute_line(key[0], key[1], m) for m in found.values()]
            log.info("rolled up again %d minute(s) for %s's %d late rounds (%s to %s)",
                     (b - a) // _MINUTE_NS, n.host, n.rounds, utc_iso(a / 1e9),
                     utc_iso(b / 1e9))  # fmt: skip
        if notes:  # keep looking back far enough for agents' clocks to disagree
            self.notes_since_ns = max(self.notes_since_ns,
                                      max(n.at_ns for n in notes) - _NOTES_LOOKBACK_NS)  # fmt: skip
            self.notes_seen = {k for k in self.notes_seen if k[1] > self.notes_since_ns}

    async def evaluate(self, ql: InfluxQL, now_s: float) -> list[SlaStatus]:
        """Every policy's status per region (the best cable) and per path, at ``now_s``."""
        end_ns = int(now_s // 60 * 60) * 10**9
        now_ns = int(now_s * 1e9)
        await self.refresh(ql, end_ns, now_s)
        # the minute in progress, so far: a live status counts it once it has a round
        ongoing = await raw_minutes(ql, end_ns, now_ns) if now_ns > end_ns else {}
        p95: dict[int, dict[PathKey, float]] = {}
        ttft: dict[int, dict[PathKey, float]] = {}
        for policy in self.config.slas:
            w = policy.objective_window_s
            since = now_ns - w * 10**9
            if w not in p95:
                p95[w] = await rtt_p95_per_path(ql, since, now_ns)
            if policy.ttft_p95_ms is not None and w not in ttft:
                ttft[w] = await ttft_p95_per_path(ql, since, now_ns)  # fmt: skip
        windows = self.config.maintenance
        # nothing measured yet: no minute of the period is counted (not 43,200 no-data ones)
        began = self.began_s if self.began_s is not None else now_s
        out: list[SlaStatus] = []
        for policy in self.config.slas:
            for region in policy.regions:
                cables = [c for c in policy.cables if (region, c) in self.probed]
                paths = {c: {**self.minutes.get((region, c), {}),
                             **ongoing.get((region, c), {})} for c in cables}  # fmt: skip
                w = policy.objective_window_s
                rtts = {c: p95[w].get((region, c)) for c in cables}
                ttfts = {c: ttft.get(w, {}).get((region, c)) for c in cables}
                out.append(evaluate_region(policy, region, paths, now_s, rtts,
                                           maintenance=windows, ttft_p95_ms=ttfts,
                                           ongoing=True, since_s=began))  # fmt: skip
                out += [evaluate_path(policy, region, c, paths[c], now_s, rtts[c],
                                      maintenance=windows, ttft_p95_ms=ttfts[c], ongoing=True,
                                      since_s=began)
                        for c in cables]  # fmt: skip
        return out
