"""The SLA evaluation's inputs, cached: each path's minutes (packets sent and received, RTT
median and p95, jitter) over the longest SLA period, and the RTT p95 (and the TTFT p95, when a
policy sets ``ttft_p95_ms``) of every policy's objective window.

The minutes come from the evaluator's own 1-minute rollups (measurement ``minute``) up to their
watermark (measurement ``rollup``), and from the raw points after it; every minute read from
the raw points is written back as a rollup (``pending``), so that a restart, ``sla status`` and
a month's report read 27 x 43,200 small rows instead of a month of raw packets. The last 10
minutes are re-read from the raw points at every pass: late points (a spool draining) update
them. Points later than that reach the raw data but not the rollups: a known limit.
"""

from __future__ import annotations

from collections.abc import Collection

from cablewatch.collectors.influx import InfluxQL
from cablewatch.collectors.read.minutes import (
    read_minutes,
    rolled_up,
    rtt_p95_per_path,
    ttft_p95_per_path,
)
from cablewatch.config import Config
from cablewatch.correlation.classify import PathKey
from cablewatch.evaluator.points import minute_line, rollup_line
from cablewatch.sla.evaluate import Minute, SlaStatus, evaluate_path, evaluate_region

__all__ = ["SlaMinutes"]

_DAY_NS = 86400 * 10**9


class SlaMinutes:
    def __init__(self, config: Config, paths: Collection[PathKey]) -> None:
        self.config = config
        self.probed = set(paths)
        self.minutes: dict[PathKey, dict[int, Minute]] = {}
        self.rolled: tuple[int, int] | None = None
        """The span [from, until) (Unix ns) the rollups hold, as far as this process knows."""
        self.pending: list[str] = []
        """Rollup lines for the minutes read from raw points, for the caller to write."""

    async def refresh(self, ql: InfluxQL, end_ns: int, now_s: float) -> None:
        policies = self.config.slas
        if not policies:
            return
        start_ns = end_ns - max(p.period_days for p in policies) * _DAY_NS
        if self.rolled is None:
            self.rolled = await rolled_up(ql) or (start_ns, start_ns)
        fresh, (lo, hi) = await read_minutes(ql, start_ns, end_ns, rolled=self.rolled)
        for key, minutes in fresh.items():
            self.minutes.setdefault(key, {}).update(minutes)
            self.pending += [minute_line(key[0], key[1], m) for s, m in minutes.items()
                             if not lo <= s * 10**9 < hi]  # fmt: skip
        # what was read from raw points is rolled up now: the span grows to end_ns, or starts
        # again at start_ns after a gap (the evaluator was away longer than the period)
        first = min(self.rolled[0], start_ns) if self.rolled[1] >= start_ns else start_ns
        self.rolled = (first, end_ns)
        self.pending.append(rollup_line(first, end_ns, now_s))
        oldest = start_ns // 10**9
        for minutes in self.minutes.values():
            for old in [s for s in minutes if s < oldest]:
                del minutes[old]

    async def evaluate(self, ql: InfluxQL, now_s: float) -> list[SlaStatus]:
        """Every policy's status per region (the best cable) and per path, at ``now_s``."""
        end_ns = int(now_s // 60 * 60) * 10**9
        await self.refresh(ql, end_ns, now_s)
        p95: dict[int, dict[PathKey, float]] = {}
        ttft: dict[int, dict[PathKey, float]] = {}
        for policy in self.config.slas:
            w = policy.objective_window_s
            since = end_ns - w * 10**9
            if w not in p95:
                p95[w] = await rtt_p95_per_path(ql, since, end_ns)
            if policy.ttft_p95_ms is not None and w not in ttft:
                ttft[w] = await ttft_p95_per_path(ql, since, end_ns)  # fmt: skip
        windows = self.config.maintenance
        out: list[SlaStatus] = []
        for policy in self.config.slas:
            for region in policy.regions:
                cables = [c for c in policy.cables if (region, c) in self.probed]
                paths = {c: self.minutes.get((region, c), {}) for c in cables}
                w = policy.objective_window_s
                rtts = {c: p95[w].get((region, c)) for c in cables}
                ttfts = {c: ttft.get(w, {}).get((region, c)) for c in cables}
                out.append(evaluate_region(policy, region, paths, now_s, rtts,
                                           maintenance=windows, ttft_p95_ms=ttfts))  # fmt: skip
                out += [evaluate_path(policy, region, c, paths[c], now_s, rtts[c],
                                      maintenance=windows, ttft_p95_ms=ttfts[c])
                        for c in cables]  # fmt: skip
        return out
