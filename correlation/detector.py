"""Per-path change detection (pure: rounds in, verdicts and states out).

A path is bad when it loses packets or when it is slow:

- loss: a sequential test over every packet (correlation/loss.py): bad once the evidence that
  the path loses ``loss_bad_pct`` rather than ``loss_good_pct`` is overwhelming, good again
  once the evidence the other way is. One steady state under sustained loss, no flapping.
- latency, judged per round (a *slow round*):
  - step: the round's median RTT above the path's baseline by more than
    max(step_ms, step_ratio x baseline); the baseline is the median of the medians of the last
    ``baseline_rounds`` rounds that were neither slow nor lossy (robust to jitter);
  - stretch: the median RTT above max_stretch x the physics floor + step_ms (a path that was
    already slow when its baseline was learned);
  with hysteresis: slow after ``enter_rounds`` slow rounds in a row, fast again after
  ``leave_rounds`` fast ones (SmokePing's alert patterns).
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Literal

from cablewatch.correlation.loss import LossTest
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
    min_ms: float | None = None
    """The round's fastest reply (baseline shifts, correlation/shift.py)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    time_s: float
    bad: bool
    """The path is bad after this round (lossy, or slow)."""
    reasons: tuple[str, ...]
    """Why: 'loss' (the loss test), 'step', 'stretch' (this round's latency)."""
    loss_pct: float
    """This round's loss."""
    median_ms: float | None
    baseline_ms: float | None
    floor_ms: float
    state: PathState
    """The path's state after this round."""
    changed: bool
    loss_evidence: float = 0.0
    """The loss test's evidence towards its other state (log-likelihood ratio)."""

    @property
    def stretch(self) -> float | None:
        return None if self.median_ms is None else self.median_ms / self.floor_ms


class PathDetector:
    def __init__(self, floor_ms: float, settings: DetectionSettings) -> None:
        self.floor_ms = floor_ms
        self.settings = settings
        self.loss = LossTest(settings)
        self.slow = False
        """The latency state (after hysteresis)."""
        self.state: PathState = "good"
        self.last_time_s: float | None = None
        self.last: Verdict | None = None
        self.since_s: float | None = None
        """When the current state began (the first round of the evidence that changed it)."""
        self.rounds_in_state = 0
        """Rounds since the evidence that set the current state began."""
        self._history: deque[float] = deque(maxlen=settings.baseline_rounds)
        self._baseline: float | None = None
        """The median of ``_history`` (None: not computed since it changed)."""
        self._run = 0
        self._run_start: float | None = None
        self._latency_since: float | None = None
        self._latency_rounds = 0

    @property
    def lossy(self) -> bool:
        """Bad because it loses packets (not only slow): the state failover must route around."""
        return self.loss.bad

    @property
    def baseline_ms(self) -> float | None:
        if len(self._history) < self.settings.min_baseline_rounds:
            return None
        if self._baseline is None:
            self._baseline = statistics.median(self._history)
        return self._baseline

    def judge(self, rnd: Round) -> tuple[str, ...]:
        """Which latency signals ``rnd`` fires: 'step', 'stretch'."""
        s = self.settings
        reasons: list[str] = []
        base = self.baseline_ms
        if rnd.median_ms is not None:
            if base is not None and rnd.median_ms - base > max(s.step_ms, s.step_ratio * base):
                reasons.append("step")
            if rnd.median_ms > s.max_stretch * self.floor_ms + s.step_ms:
                reasons.append("stretch")
        return tuple(reasons)

    def observe(self, rnd: Round) -> Verdict:
        """Take the path's next round (rounds come in time order)."""
        slow_signals = self.judge(rnd)
        loss_changed = self.loss.update(rnd.sent, rnd.received, rnd.time_s)
        if not slow_signals and not self.loss.bad and rnd.median_ms is not None:
            self._history.append(rnd.median_ms)
            self._baseline = None
        self._latency(bool(slow_signals), rnd.time_s)
        loss_pct = 100.0 * (rnd.sent - rnd.received) / rnd.sent if rnd.sent else 100.0
        return self._settle(rnd.time_s, rnd.median_ms, loss_pct, slow_signals, loss_changed)

    def agree_lost(self, time_s: float) -> Verdict | None:
        """Most of the cable's regions lost every packet of their latest round: the loss test
        turns bad at once (multi-vantage evidence). The new verdict if the state changed."""
        v = self.last
        if v is None or not self.loss.force_bad(time_s):
            return None
        slow = tuple(r for r in v.reasons if r != "loss")
        return self._settle(v.time_s, v.median_ms, v.loss_pct, slow, True, count=False)

    def _latency(self, slow: bool, time_s: float) -> None:
        if slow == self.slow:
            self._run, self._run_start = 0, None
            return
        self._run += 1
        if self._run_start is None:
            self._run_start = time_s
        needed = self.settings.enter_rounds if slow else self.settings.leave_rounds
        if self._run >= needed:
            self.slow, self._latency_since, self._latency_rounds = slow, self._run_start, self._run
            self._run, self._run_start = 0, None

    def _settle(self, time_s: float, median_ms: float | None, loss_pct: float,
                slow_signals: tuple[str, ...], loss_changed: bool, *,
                count: bool = True) -> Verdict:  # fmt: skip
        state: PathState = "bad" if self.loss.bad or self.slow else "good"
        changed = state != self.state
        self.rounds_in_state += 1 if count else 0
        if changed:
            if loss_changed:
                self.since_s, self.rounds_in_state = self.loss.since_s, self.loss.climb_rounds
            else:
                self.since_s, self.rounds_in_state = self._latency_since, self._latency_rounds
            self.state = state
        self.last_time_s = time_s
        reasons = (("loss",) if self.loss.bad else ()) + slow_signals
        evidence = self.loss.down if self.loss.bad else self.loss.up
        self.last = Verdict(time_s, state == "bad", reasons, loss_pct, median_ms,
                            self.baseline_ms, self.floor_ms, state, changed,
                            round(evidence, 3))  # fmt: skip
        return self.last
