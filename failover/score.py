"""A path's recent statistics and its score (pure). Lower scores are better.

The score estimates, in milliseconds, what a request over the cable costs a customer:

    score = p50 + (p95 - p50) / 2            typical RTT plus half the tail
          + jitter                           RFC 3550 jitter, mean over the window
          + 2 x loss %                       a lost packet costs a ~200 ms retransmission
                                             timeout: 2 ms per 1 % of loss on average
          + 2 x max(0, p95 - objective)      eating into the SLA's RTT p95 objective
          + max(0, p50 - 1.5 x floor)        stretch beyond a healthy 1.5 x the physics floor

Statistics are over the path's last ``window_rounds`` ICMP rounds: p50 and p95 of the rounds'
median RTTs, loss by packets, and the rounds' mean jitter. A path with fewer than
``MIN_ROUNDS`` rounds has no score yet (a first choice on one round would be a coin toss).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from cablewatch.correlation.classify import PathStatus
from cablewatch.timefmt import utc_iso
from cablewatch.values import percentile_sorted

__all__ = [
    "FIRST_CHOICE_ROUNDS",
    "MIN_ROUNDS",
    "PathStats",
    "Score",
    "column_stats",
    "path_stats",
    "score",
]

MIN_ROUNDS = 5
FIRST_CHOICE_ROUNDS = 20
"""A region's first recommendation waits for this many rounds on every cable (or for a probe
gap). A score's tail term is the p95 of the rounds' medians, and over fewer than 20 rounds the
p95 is the largest of them: one outlier round (a 101 ms round among 46 ms ones, seen in the
lab at start-up) made the slower cable the first choice, and the speed rule moved the region
60 s later."""


@dataclass(frozen=True, slots=True)
class PathStats:
    region: str
    cable: str
    state: PathStatus
    rounds: int
    p50_ms: float | None
    p95_ms: float | None
    loss_pct: float | None
    jitter_ms: float | None
    floor_ms: float
    lossy: bool = False
    """The path's detector says: bad, because it loses packets."""
    lost: int = 0
    """Packets lost over the window ..."""
    sent: int = 0
    """... of those sent."""
    span_s: tuple[float, float] | None = None
    """When the window's first and last rounds started: with the counts above, what a NOC
    checks the decision against (`cablewatch explain`)."""
    rtt_rounds: int = 0
    """The last rounds p50 and p95 are over (those since the path's state changed)."""

    def window(self) -> dict[str, object]:
        """What was judged, as stored with decisions (JSON-ready)."""
        span = self.span_s
        return {
            "from": None if span is None else utc_iso(span[0]),
            "to": None if span is None else utc_iso(span[1]),
            "from_ns": None if span is None else round(span[0] * 1e9),
            "to_ns": None if span is None else round(span[1] * 1e9),
            "rounds": self.rounds, "sent": self.sent, "received": self.sent - self.lost,
            "loss_pct": self.loss_pct, "rtt_rounds": self.rtt_rounds,
            "p50_ms": self.p50_ms, "p95_ms": self.p95_ms,
        }  # fmt: skip

    @property
    def per_round(self) -> float:
        return self.sent / self.rounds if self.rounds else 0.0

    @property
    def stretch(self) -> float | None:
        return None if self.p50_ms is None else self.p50_ms / self.floor_ms


def path_stats(
    region: str,
    cable: str,
    state: PathStatus,
    floor_ms: float,
    rounds: Sequence[tuple[int, int, float | None, float | None]],
    *,
    lossy: bool = False,
    latency_rounds: int | None = None,
    span_s: tuple[float, float] | None = None,
) -> PathStats:
    """From (sent, received, median_ms, jitter_ms) of the path's recent rounds: loss over all
    of them, RTT and jitter over the last ``latency_rounds`` (default: all; the evaluator
    passes the rounds since the path's state last changed, so that a latency step shows at
    once, while loss is still judged over enough packets)."""
    sent, received, medians, jitters = tuple(zip(*rounds, strict=True)) or ((), (), (), ())
    return column_stats(region, cable, state, floor_ms, sent, received, medians, jitters,
                        lossy=lossy, latency_rounds=latency_rounds, span_s=span_s)  # fmt: skip


def column_stats(
    region: str,
    cable: str,
    state: PathStatus,
    floor_ms: float,
    sent: Sequence[int],
    received: Sequence[int],
    medians: Sequence[float | None],
    jitters: Sequence[float | None],
    *,
    lossy: bool = False,
    latency_rounds: int | None = None,
    span_s: tuple[float, float] | None = None,
) -> PathStats:
    """:func:`path_stats` of the rounds as columns (the evaluator's history keeps them so); a
    median or jitter that is None or NaN is a round without one."""
    rounds = len(sent)
    total_sent, total_received = sum(sent), sum(received)
    start = max(0, rounds - latency_rounds) if latency_rounds else 0
    ordered = sorted(_present(medians[start:]))
    jitter = _present(jitters[start:])
    return PathStats(
        region=region,
        cable=cable,
        state=state,
        rounds=rounds,
        p50_ms=percentile_sorted(ordered, 50) if ordered else None,
        p95_ms=percentile_sorted(ordered, 95) if ordered else None,
        loss_pct=100.0 * (total_sent - total_received) / total_sent if total_sent else None,
        jitter_ms=statistics.fmean(jitter) if jitter else None,
        floor_ms=floor_ms,
        lossy=lossy,
        lost=total_sent - total_received,
        sent=total_sent,
        span_s=span_s,
        rtt_rounds=rounds - start,
    )


def _present(values: Sequence[float | None]) -> Sequence[float]:
    """The values that are neither None nor NaN (most windows have none missing: one C-speed
    sum tells, instead of a test per value)."""
    try:
        if not math.isnan(sum(values)):  # type: ignore[arg-type]
            return values  # type: ignore[return-value]
    except TypeError:  # a None among them
        pass
    return [v for v in values if v is not None and v == v]


@dataclass(frozen=True, slots=True)
class Score:
    cable: str
    score_ms: float | None
    """None: no recent data, or every reply lost."""
    clean: bool
    components: dict[str, float] = field(default_factory=dict)
    stats: PathStats | None = None


def score(stats: PathStats, objective_p95_ms: float | None, clean_loss_pct: float,
          window_rounds: int = 0) -> Score:  # fmt: skip
    """``window_rounds``: a cable is unclean for loss only once it lost more than
    ``clean_loss_pct`` of a full window's packets (a young window of a few rounds that lost two
    packets at start-up is not evidence of a lossy cable; the detector's loss test is)."""
    clean = (
        not stats.lossy
        and stats.state != "unknown"
        and stats.loss_pct is not None
        and stats.lost <= clean_loss_pct / 100 * max(stats.sent, window_rounds * stats.per_round)
    )
    if (
        stats.state == "unknown"
        or stats.rounds < MIN_ROUNDS
        or stats.p50_ms is None
        or stats.p95_ms is None
    ):
        return Score(stats.cable, None, False, {}, stats)
    parts = {
        "p50_ms": stats.p50_ms,
        "tail_ms": (stats.p95_ms - stats.p50_ms) / 2,
        "jitter_ms": stats.jitter_ms or 0.0,
        "loss_ms": 2.0 * (stats.loss_pct or 0.0),
        "sla_ms": 2.0 * max(0.0, stats.p95_ms - objective_p95_ms) if objective_p95_ms else 0.0,
        "stretch_ms": max(0.0, stats.p50_ms - 1.5 * stats.floor_ms),
    }
    return Score(stats.cable, round(sum(parts.values()), 3), clean,
                 {k: round(v, 3) for k, v in parts.items()}, stats)  # fmt: skip
