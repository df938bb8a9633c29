"""Baseline shifts per path (pure: rounds in, changes out): a lasting move of a path's minimum
RTT, too small to be a fault, that a NOC should still hear of (a route or equipment change of
a few milliseconds).

The fault detector counts a latency step only above max(step_ms, step_ratio x baseline), and
a lasting step stays an open fault. Below that, per path, on each round's *minimum* RTT (the
least that jitter can add to; a round without a reply is skipped):

- the *baseline* is the median of the first ``learn_rounds`` minima (later: the accepted
  level);
- the *level* is the median of the last ``window_rounds`` minima: a median of minima moves
  only when most rounds moved, so jitter and a few slow rounds never move it (a change-point
  test of the median; a CUSUM on the raw minima would need its drift tuned to the jitter);
- a shift *begins* when 3/4 ``step_ms`` <= |level - baseline| < the fault threshold (the
  level's own noise is about 0.5 ms at 5 ms of jitter: a move of ``step_ms`` must not hover
  around its threshold), lasts while the level stays beyond ``step_ms / 2``, and is *raised*
  once it has lasted ``hold_s`` (its start: the round half a window before the level moved,
  as a median moves once half its window has);
- it *resolves* when the level is back within ``step_ms / 2`` of the baseline for ``hold_s``
  ("moved back"), or when it is *accepted*: :meth:`PathShift.accept` (a NOC's word) or, after
  ``accept_after_s``, on its own ("new normal"); then the level is the baseline.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Literal

__all__ = ["PathShift", "ShiftChange", "ShiftSettings"]


@dataclass(frozen=True, slots=True)
class ShiftSettings:
    step_ms: float = 3.0
    window_rounds: int = 30
    learn_rounds: int = 60
    hold_s: float = 20.0
    accept_after_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class ShiftChange:
    kind: Literal["raised", "resolved"]
    since_s: float
    """When the level first moved."""
    delta_ms: float
    """Level minus baseline when raised (or when it resolved)."""
    baseline_ms: float
    reason: str = ""
    """Resolved: 'moved back', 'accepted' (a NOC) or 'new normal' (accept_after_s)."""


class PathShift:
    def __init__(self, settings: ShiftSettings) -> None:
        self.settings = settings
        self.baseline_ms: float | None = None
        size = max(settings.window_rounds, settings.learn_rounds)
        self._minima: deque[float] = deque(maxlen=size)
        self._times: deque[float] = deque(maxlen=size)
        self._moved_s: float | None = None
        """When the level first moved past step_ms (None: it has not)."""
        self._back_s: float | None = None
        """While raised: when the level came back within step_ms / 2."""
        self.raised: ShiftChange | None = None

    @property
    def level_ms(self) -> float | None:
        n = self.settings.window_rounds
        if len(self._minima) < n:
            return None
        return statistics.median(list(self._minima)[-n:])

    def observe(self, time_s: float, min_ms: float | None,
                fault_ms: float | None = None) -> ShiftChange | None:  # fmt: skip
        """Take a round's minimum RTT (None: no reply); ``fault_ms``: the fault detector's
        step threshold now (a move that large is the detector's, not a shift)."""
        if min_ms is None:
            return None
        self._minima.append(min_ms)
        self._times.append(time_s)
        s = self.settings
        if self.baseline_ms is None:
            if len(self._minima) >= s.learn_rounds:
                self.baseline_ms = statistics.median(self._minima)
            return None
        level = self.level_ms
        if level is None:
            return None
        delta = level - self.baseline_ms
        if self.raised is not None:
            return self._while_raised(time_s, level, delta)
        fault = fault_ms if fault_ms is not None else float("inf")
        if abs(delta) >= fault or abs(delta) < s.step_ms / 2:
            self._moved_s = None  # the fault detector's, or back
            return None
        if self._moved_s is None:
            if abs(delta) < 0.75 * s.step_ms:
                return None
            # a median of the window moves once half the window has: the move began then
            self._moved_s = self._times[-(s.window_rounds // 2) - 1]
        if time_s - self._moved_s < s.hold_s:
            return None
        self.raised = ShiftChange("raised", self._moved_s, delta, self.baseline_ms)
        return self.raised

    def _while_raised(self, time_s: float, level: float, delta: float) -> ShiftChange | None:
        s = self.settings
        raised = self.raised
        assert raised is not None
        assert self.baseline_ms is not None
        if abs(delta) < s.step_ms / 2:
            self._back_s = time_s if self._back_s is None else self._back_s
            if time_s - self._back_s >= s.hold_s:
                return self._resolve(delta, "moved back", None)
            return None
        self._back_s = None
        if time_s - raised.since_s >= s.accept_after_s:
            return self._resolve(delta, "new normal", level)
        return None

    def accept(self) -> ShiftChange | None:
        """A NOC accepts the shift: its level is the baseline from now on."""
        if self.raised is None or self.baseline_ms is None or self.level_ms is None:
            return None
        level = self.level_ms
        return self._resolve(level - self.baseline_ms, "accepted", level)

    def _resolve(self, delta: float, reason: str, new_baseline: float | None) -> ShiftChange:
        raised = self.raised
        assert raised is not None
        assert self.baseline_ms is not None
        out = ShiftChange("resolved", raised.since_s, delta, self.baseline_ms, reason)
        if new_baseline is not None:
            self.baseline_ms = new_baseline
        self.raised, self._moved_s, self._back_s = None, None, None
        return out
