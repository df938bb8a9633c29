"""The SLA evaluation's inputs, cached: per-minute packet counts and medians of every path
over the longest SLA period (loaded once, then refreshed for the last minutes), and the RTT p95
of every policy's objective window."""

from __future__ import annotations

from collections.abc import Collection

from cablewatch.collectors.influx import InfluxQL
from cablewatch.config import Config
from cablewatch.correlation.classify import PathKey
from cablewatch.evaluator import reader
from cablewatch.sla.evaluate import Minute, SlaStatus, evaluate_path, evaluate_region

__all__ = ["SlaMinutes"]

_LATE_S = 600
"""After the first load, re-read the last 10 minutes: late points (a spool draining)."""
_DAY_NS = 86400 * 10**9


class SlaMinutes:
    def __init__(self, config: Config, paths: Collection[PathKey]) -> None:
        self.config = config
        self.probed = set(paths)
        self.minutes: dict[PathKey, dict[int, Minute]] = {}
        self.loaded_until_ns: int | None = None

    async def refresh(self, ql: InfluxQL, end_ns: int) -> None:
        policies = self.config.slas
        if not policies:
            return
        start_ns = end_ns - max(p.period_days for p in policies) * _DAY_NS
        loaded = self.loaded_until_ns
        begin = start_ns if loaded is None else max(start_ns, loaded - _LATE_S * 10**9)
        chunk = begin
        while chunk < end_ns:  # a day per query
            upto = min(chunk + _DAY_NS, end_ns)
            for key, minutes in (await reader.minutes(ql, chunk, upto)).items():
                self.minutes.setdefault(key, {}).update(minutes)
            chunk = upto
        first = start_ns // 10**9
        for minutes in self.minutes.values():
            for old in [s for s in minutes if s < first]:
                del minutes[old]
        self.loaded_until_ns = end_ns

    async def evaluate(self, ql: InfluxQL, now_s: float) -> list[SlaStatus]:
        """Every policy's status per region (the best cable) and per path, at ``now_s``."""
        end_ns = int(now_s // 60 * 60) * 10**9
        await self.refresh(ql, end_ns)
        p95: dict[int, dict[PathKey, float]] = {}
        for policy in self.config.slas:
            w = policy.objective_window_s
            if w not in p95:
                p95[w] = await reader.rtt_p95(ql, end_ns - w * 10**9, end_ns)
        out: list[SlaStatus] = []
        for policy in self.config.slas:
            for region in policy.regions:
                cables = [c for c in policy.cables if (region, c) in self.probed]
                paths = {c: self.minutes.get((region, c), {}) for c in cables}
                rtts = {c: p95[policy.objective_window_s].get((region, c)) for c in cables}
                out.append(evaluate_region(policy, region, paths, now_s, rtts))
                out += [evaluate_path(policy, region, c, paths[c], now_s, rtts[c]) for c in cables]
        return out
