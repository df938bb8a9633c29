"""Per-path change detection with hysteresis (pure: rounds in, verdicts and states out).

Each ICMP round of a path is judged on its own (a *bad round*), against three signals:

- loss: at least ``loss_pct`` of the round's packets lost (RFC 6673 round-trip loss);
- step: the round's median RTT above the path's baseline by more than
  max(step_ms, step_ratio x baseline); the baseline is the median of the medians of the last
  ``baseline_rounds`` rounds that were not bad (robust to jitter, SmokePing's view of a path);
- stretch: the median RTT above max_stretch x the physics floor + step_ms (a path that was
  already slow when its baseline was learned).

The path's state changes only after ``enter_rounds`` bad rounds in a row (good -> bad) or
``leave_rounds`` good rounds in a row (bad -> good): hysteresis, as SmokePing's alert patterns.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Literal

from cablewatch.correlation.settings import DetectionSettings

__all__ = ["PathDetector", "PathState", "Round", "Verdict"]

PathState = Literal["good", "bad"]


@dataclass(frozen=True, slots=True)
class Round:
    """One ICMP round of a path, as stored in InfluxDB's ``ping`` measurement."""

    region: str
    cable: str
    time_s: float
    """When the round started (wall clock)."""
    sent: int
    received: int
    median_ms: float | None
    jitter_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    time_s: float
    bad: bool
    reasons: tuple[str, ...]
    """Which signals fired: 'loss', 'step', 'stretch'."""
    loss_pct: float
    median_ms: float | None
    baseline_ms: float | None
    floor_ms: float
    state: PathState
    """The path's state after this round."""
    changed: bool

    @property
    def stretch(self) -> float | None:
        return None if self.median_ms is None else self.median_ms / self.floor_ms


class PathDetector:
    def __init__(self, floor_ms: float, settings: DetectionSettings) -> None:
        self.floor_ms = floor_ms
        self.settings = settings
        self.state: PathState = "good"
        self.last_time_s: float | None = None
        self.last: Verdict | None = None
        self.since_s: float | None = None
        """When the current state began (the first round of the run that changed it)."""
        self._history: deque[float] = deque(maxlen=settings.baseline_rounds)
        self._run = 0
        self._run_start: float | None = None
        self._lossy_run = False

    @property
    def lossy(self) -> bool:
        """Bad, and losing packets (not only slow): the state failover must route around."""
        return self.state == "bad" and self._lossy_run

    @property
    def baseline_ms(self) -> float | None:
        if len(self._history) < self.settings.min_baseline_rounds:
            return None
        return statistics.median(self._history)

    def judge(self, rnd: Round) -> tuple[bool, tuple[str, ...], float]:
        """Is ``rnd`` bad, and why; and its loss in percent."""
        s = self.settings
        loss_pct = 100.0 * (rnd.sent - rnd.received) / rnd.sent if rnd.sent else 100.0
        reasons: list[str] = []
        if loss_pct >= s.loss_pct:
            reasons.append("loss")
        base = self.baseline_ms
        if rnd.median_ms is not None:
            if base is not None and rnd.median_ms - base > max(s.step_ms, s.step_ratio * base):
                reasons.append("step")
            if rnd.median_ms > s.max_stretch * self.floor_ms + s.step_ms:
                reasons.append("stretch")
        return bool(reasons), tuple(reasons), loss_pct

    def observe(self, rnd: Round) -> Verdict:
        """Take the path's next round (rounds come in time order)."""
        bad, reasons, loss_pct = self.judge(rnd)
        base = self.baseline_ms
        if not bad and rnd.median_ms is not None:
            self._history.append(rnd.median_ms)
        wanted: PathState = "bad" if bad else "good"
        if wanted == self.state:
            self._run = 0
            self._run_start = None
        else:
            self._run += 1
            if self._run_start is None:
                self._run_start = rnd.time_s
        needed = self.settings.enter_rounds if wanted == "bad" else self.settings.leave_rounds
        changed = self._run >= needed
        if bad and (self.state == "bad" or changed):
            # while bad, "lossy" follows the latest bad round: a cut that heals into a slow
            # path stops being lossy
            self._lossy_run = "loss" in reasons
        if changed:
            self.state = wanted
            self.since_s = self._run_start
            self._run = 0
            self._run_start = None
        self.last_time_s = rnd.time_s
        self.last = Verdict(rnd.time_s, bad, reasons, loss_pct, rnd.median_ms, base,
                            self.floor_ms, self.state, changed)  # fmt: skip
        return self.last
