"""Settings of fault detection and correlation (``[detection]`` in the configuration)."""

from __future__ import annotations

from dataclasses import dataclass

from cablewatch.schema import Int, Num, Table

__all__ = ["DetectionSettings"]


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    enter_rounds: int = 2
    """A path turns bad after this many bad rounds in a row."""
    leave_rounds: int = 3
    """... and good again after this many good rounds in a row."""
    loss_pct: float = 40.0
    """A round is bad when at least this share of its packets is lost (2 of 5)."""
    step_ms: float = 10.0
    """... or its median RTT is above the path's baseline by more than
    max(step_ms, step_ratio x baseline)."""
    step_ratio: float = 0.25
    max_stretch: float = 1.6
    """... or its median RTT is above max_stretch x the physics floor + step_ms (catches a path
    that was already degraded when its baseline was learned)."""
    baseline_rounds: int = 60
    """The baseline is the median of the last baseline_rounds good rounds' median RTTs."""
    min_baseline_rounds: int = 5
    """Fewer good rounds than this: no baseline yet, so no step signal (loss and stretch
    still count)."""
    min_regions: int = 2
    """A cable fault needs at least this many regions bad on the cable, fine on another."""
    settle_s: float | None = None
    """A path or regional finding must last this long before it is raised: a cable or station
    fault seen by the first region looks like a path fault until the second region sees it.
    Default: 2 probe intervals + 2 s."""
    stale_s: float | None = None
    """A path without a new round for this long has no state (probe gap, not a fault).
    Default: 5 probe intervals + the timeout + 5 s (the sender's batching and the poll)."""

    def settle_for(self, interval_s: float) -> float:
        return self.settle_s if self.settle_s is not None else 2 * interval_s + 2.0

    def stale_for(self, interval_s: float, timeout_s: float) -> float:
        return self.stale_s if self.stale_s is not None else 5 * interval_s + timeout_s + 5.0

    @classmethod
    def from_table(cls, t: Table | None) -> DetectionSettings:
        if t is None:
            return cls()
        count = Int(1, 100_000)
        out = cls(**t.read(
            enter_rounds=count, leave_rounds=count, loss_pct=Num(0, 100, low_open=True),
            step_ms=Num(0, low_open=True), step_ratio=Num(0), max_stretch=Num(1),
            baseline_rounds=count, min_baseline_rounds=count, min_regions=count,
            settle_s=Num(0), stale_s=Num(0, low_open=True),
        ))  # fmt: skip
        t.finish()
        return out
