"""Settings of fault detection and correlation (``[detection]`` in the configuration)."""

from __future__ import annotations

from dataclasses import dataclass

from cablewatch.schema import Int, Num, Table

__all__ = ["DetectionSettings"]


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    loss_good_pct: float = 2.0
    """Loss: a sequential test (correlation/loss.py) weighs every round's packets between a
    healthy path that loses loss_good_pct ..."""
    loss_bad_pct: float = 25.0
    """... and a faulty one that loses loss_bad_pct. Their crossover, where the evidence
    drifts neither way, is about 10 % of packets lost."""
    loss_evidence: float = 13.8
    """The path turns bad when the packets since the evidence began are e^loss_evidence
    (about 1,000,000) times likelier under loss_bad_pct than loss_good_pct: 6 lost packets in a
    row, so one lost round of 5 is not enough for one path (a stalled probe host can lose one),
    but many regions losing the same round is (``agreement``) ..."""
    loss_clear_evidence: float = 6.9
    """... and good again when they are e^loss_clear_evidence (about 1,000) times likelier
    under loss_good_pct."""
    enter_rounds: int = 2
    """Latency: a path turns bad after this many slow rounds in a row ..."""
    leave_rounds: int = 3
    """... and good again after this many fast rounds in a row."""
    step_ms: float = 10.0
    """A round is slow when its median RTT is above the path's baseline by more than
    max(step_ms, step_ratio x baseline) ..."""
    step_ratio: float = 0.25
    max_stretch: float = 1.6
    """... or above max_stretch x the physics floor + step_ms (catches a path that was
    already degraded when its baseline was learned)."""
    baseline_rounds: int = 60
    """The baseline is the median of the last baseline_rounds good rounds' median RTTs."""
    min_baseline_rounds: int = 5
    """Fewer good rounds than this: no baseline yet, so no step signal (loss and stretch
    still count)."""
    min_regions: int = 2
    """A cable, segment or partial fault needs at least this many regions bad on the cable,
    fine on another."""
    agreement: float = 0.5
    """Multi-vantage evidence: when more than this share of a cable's regions (and at least
    min_regions) lose every packet of their latest round, their loss tests turn bad at once."""
    settle_s: float | None = None
    """A path, partial, segment or regional finding must last this long before it is raised:
    a cable fault seen by the first regions looks smaller until the others see it.
    Default: 2 probe intervals + 2 s."""
    stale_s: float | None = None
    """A path without a new round for this long has no state (probe gap, not a fault).
    Default: 5 probe intervals + the timeout + 5 s (the sender's batching and the poll)."""
    shift_step_ms: float = 3.0
    """Baseline shifts (correlation/shift.py): a path's minimum RTT moved by about this much,
    less than a fault's step, is an info event ..."""
    shift_hold_s: float = 20.0
    """... once it lasted this long ..."""
    shift_accept_after_s: float = 3600.0
    """... and the new normal (its level the baseline, the event resolved) after this long."""

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
            loss_good_pct=Num(0, 100, low_open=True), loss_bad_pct=Num(0, 100, low_open=True),
            loss_evidence=Num(0, low_open=True), loss_clear_evidence=Num(0, low_open=True),
            enter_rounds=count, leave_rounds=count,
            step_ms=Num(0, low_open=True), step_ratio=Num(0), max_stretch=Num(1),
            baseline_rounds=count, min_baseline_rounds=count, min_regions=count,
            agreement=Num(0, 1), settle_s=Num(0), stale_s=Num(0, low_open=True),
            shift_step_ms=Num(0, low_open=True), shift_hold_s=Num(0),
            shift_accept_after_s=Num(1),
        ))  # fmt: skip
        t.finish()
        if out.loss_bad_pct <= out.loss_good_pct or out.loss_bad_pct >= 100:
            t.problem("loss_bad_pct", f"got {out.loss_bad_pct:g}, expected more than "
                      f"loss_good_pct ({out.loss_good_pct:g}) and less than 100")  # fmt: skip
        return out
