"""What the round-source tests share: a source that records what it gives, the recorded
minute's faults, and what a pass decided (comparable between two evaluators)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from cablewatch.correlation.detector import Round
from cablewatch.evaluator.service import Evaluator
from cablewatch.evaluator.source import Polled, RoundSource
from cablewatch.harness.synthetic import round_line


class Recording:
    """A round source that keeps what another gives, poll by poll."""

    def __init__(self, inner: RoundSource) -> None:
        self.inner = inner
        self.polls: list[Polled] = []

    def history(self, since_s: float, now_s: float) -> AsyncIterator[list[Round]]:
        return self.inner.history(since_s, now_s)

    async def poll(self, now_s: float) -> Polled:
        out = await self.inner.poll(now_s)
        self.polls.append(out)
        return out


def fault_lines(i: int, k: int, s: int, t_s: float) -> str:
    """The recorded minute's faults: SJC cut for regions 0-599 from 20 to 34 s; regions
    600-649's ADC 30 ms slower from 30 s on; region 700's APCN-2 losing 2 of 5 from 10 to 40 s."""
    if k == 1 and i < 600 and 20 <= s < 35:
        return round_line(i, k, t_s, received=0)
    if k == 0 and 600 <= i < 650 and s >= 30:
        return round_line(i, k, t_s, extra_ms=30.0)
    if k == 2 and i == 700 and 10 <= s < 40:
        return round_line(i, k, t_s, received=3)
    return round_line(i, k, t_s)


def decisions(ev: Evaluator, transitions: list[Any]) -> dict[str, Any]:
    """What a pass decided, comparable between two evaluators."""
    transitions = [(t.kind, t.event.scope, t.event.subject, t.event.cable,
                    sorted(t.event.seen_paths)) for t in transitions]  # fmt: skip
    recommended = {r: (c.cable, c.reason) if (c := ev.failover.current(r)) else None
                   for r in ev.detection.region_paths}  # fmt: skip
    return {"transitions": transitions, "status": ev.detection.status(ev.clock()),
            "recommended": recommended, "version": ev.failover.version}  # fmt: skip


def round_key(r: Round) -> tuple[str, str, float]:
    return r.region, r.cable, r.time_s
