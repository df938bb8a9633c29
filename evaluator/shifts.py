"""Baseline shifts in the evaluator: each path's detector (correlation/shift.py) fed with the
rounds detection took, and each shift an info event of its own (alert
``CablewatchBaselineShift``, measurement ``baseline_shift``), joined to the route change
that explains it when there is one."""

from __future__ import annotations

import time

from cablewatch.config import Config
from cablewatch.correlation.classify import PathKey
from cablewatch.correlation.detector import Round
from cablewatch.correlation.shift import PathShift, ShiftChange, ShiftSettings
from cablewatch.evaluator.detection import Detection

__all__ = ["ShiftWatch", "describe"]


class ShiftWatch:
    def __init__(self, config: Config, detection: Detection) -> None:
        s = config.detection
        settings = ShiftSettings(step_ms=s.shift_step_ms, hold_s=s.shift_hold_s,
                                 accept_after_s=s.shift_accept_after_s)  # fmt: skip
        self.detection = detection
        self.paths = {key: PathShift(settings) for key in detection.detectors}

    def observe(self, taken: list[Round]) -> list[tuple[PathKey, ShiftChange]]:
        """The shifts raised or resolved by ``taken`` (rounds in time order per path)."""
        s = self.detection.config.detection
        out = []
        for rnd in taken:
            key = (rnd.region, rnd.cable)
            shift = self.paths.get(key)
            if shift is None:
                continue
            base = self.detection.detectors[key].baseline_ms
            fault = max(s.step_ms, s.step_ratio * base) if base is not None else s.step_ms
            change = shift.observe(rnd.time_s, rnd.min_ms, fault)
            if change is not None:
                out.append((key, change))
        return out


def describe(key: PathKey, change: ShiftChange, route: str | None) -> str:
    """ "jakarta/SJC: +3.1 ms since 04:31 UTC, no route change seen"; ``route``: the route
    change that explains it."""
    since = time.strftime("%H:%M", time.gmtime(change.since_s))
    why = f"with {route}" if route else "no route change seen"
    text = f"{key[0]}/{key[1]}: {change.delta_ms:+.1f} ms since {since} UTC, {why}"
    if change.kind == "resolved":
        text += {"moved back": "; moved back",
                 "accepted": "; accepted as the new normal by the NOC",
                 "new normal": "; lasted, now the new normal"}.get(change.reason, "")  # fmt: skip
    return text
