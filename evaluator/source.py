"""Where fault detection's rounds come from: one interface, so detection does not know.

A round source hands the evaluator each path's ICMP rounds once, in time order per path:

- :meth:`RoundSource.history`: every round stored since a time (the warm-up: baselines are
  learned from it, nothing is raised);
- :meth:`RoundSource.poll`: the rounds that became readable since the last call and are newer
  than their path's last one, with what the evaluator must say about rounds it could not take
  yet (stamped ahead of its clock) or ever (stamped before their path's last one).

Implementations: InfluxDB (evaluator/source_influx.py: reads only what is new, per path, with a
bounded re-read for late rounds). A round source of the message bus is the scale-out issue's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from cablewatch.correlation.classify import PathKey
from cablewatch.correlation.detector import Round

__all__ = ["FUTURE_S", "Polled", "RoundSource"]

FUTURE_S = 10.0
"""Rounds stamped further ahead of the reader's clock than this wait for their time."""


@dataclass(slots=True)
class Polled:
    rounds: list[Round] = field(default_factory=list)
    """New rounds, in time order per path, each given once."""
    ahead_s: dict[str, float] = field(default_factory=dict)
    """Regions with rounds stamped more than FUTURE_S ahead of the clock (an agent's clock
    running ahead), by how far: those rounds are held until their time."""
    behind: set[PathKey] = field(default_factory=set)
    """Paths with rounds stamped before their last one taken (a clock stepped back): not
    given, ever (a detector takes a path's rounds in time order)."""
    rows: int = 0
    """Rows the source read to find them (what a poll cost)."""


class RoundSource(Protocol):
    def history(self, since_s: float, now_s: float) -> AsyncIterator[list[Round]]:
        """Every round that started after ``since_s`` (and not ahead of ``now_s`` by more
        than FUTURE_S), in batches, each path's in time order across them; later polls give
        only rounds newer than these."""

    async def poll(self, now_s: float) -> Polled:
        """The rounds not given yet, newer than their path's last one."""
