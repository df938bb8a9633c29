"""`cablewatch explain REGION`: a region's last recommendation, the window each cable was
judged on (as the evaluator stored it with the decision), and the same window read back from
InfluxDB now. A decision the stored data cannot explain shows as a cable whose figures differ
(the phantom loss of a round read while its write was in progress would have: judged 5 sent,
0 received; stored 5 and 5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cablewatch.collectors.influx import InfluxQL
from cablewatch.collectors.read.history import StoredRecommendation, last_recommendation
from cablewatch.collectors.read.rounds import path_rounds
from cablewatch.correlation.detector import Round
from cablewatch.failover.score import path_stats

__all__ = ["CableCheck", "Explanation", "explain", "read_back"]

_COMPARED = ("rounds", "sent", "received", "p50_ms", "p95_ms")


@dataclass(frozen=True, slots=True)
class CableCheck:
    cable: str
    judged: dict[str, Any]
    """The window as the decision judged it."""
    stored: dict[str, Any]
    """The same rounds as InfluxDB holds them now."""

    @property
    def agrees(self) -> bool:
        return all(_same(self.judged.get(k), self.stored.get(k)) for k in _COMPARED)


@dataclass(frozen=True, slots=True)
class Explanation:
    recommendation: StoredRecommendation
    checks: list[CableCheck]

    def to_dict(self) -> dict[str, Any]:
        r = self.recommendation
        return {"region": r.region, "at_unix_s": r.at_s, "cable": r.cable,
                "previous": r.previous or None, "kind": r.kind, "reason": r.reason,
                "cables": [{"cable": c.cable, "judged": c.judged, "stored": c.stored,
                            "agrees": c.agrees} for c in self.checks]}  # fmt: skip


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return bool(a == b)


def read_back(rounds: Sequence[Round], rtt_rounds: int) -> dict[str, Any]:
    """The window's figures from its rounds, as the failover score computes them (loss over
    every round, p50 and p95 of the rounds' medians over the last ``rtt_rounds``)."""
    stats = path_stats("", "", "good", 1.0,
                       [(r.sent, r.received, r.median_ms, r.jitter_ms) for r in rounds],
                       latency_rounds=rtt_rounds or None)  # fmt: skip
    window = stats.window()
    return {k: window[k] for k in ("rounds", "sent", "received", "loss_pct", "p50_ms", "p95_ms")}


async def explain(ql: InfluxQL, region: str) -> Explanation | None:
    """``region``'s last recommendation and its windows checked against InfluxDB; None when
    the evaluator has stored none."""
    rec = await last_recommendation(ql, region)
    if rec is None:
        return None
    checks = []
    for cable, judged in sorted(rec.window.items()):
        if judged.get("from_ns") is None:
            checks.append(CableCheck(cable, judged, {"rounds": 0}))
            continue
        # the span as stored went through a float of seconds: 1 us either way holds it whole
        rounds = await path_rounds(ql, region, cable, judged["from_ns"] - 1000,
                                   judged["to_ns"] + 1000)  # fmt: skip
        checks.append(CableCheck(cable, judged, read_back(rounds, judged.get("rtt_rounds", 0))))
    return Explanation(rec, checks)
