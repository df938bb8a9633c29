"""Settings of the failover recommendations (``[failover]`` in the configuration)."""

from __future__ import annotations

from dataclasses import dataclass

from cablewatch.schema import Int, Num, Table

__all__ = ["FailoverSettings"]


@dataclass(frozen=True, slots=True)
class FailoverSettings:
    window_rounds: int = 60
    """Path statistics are over the last window_rounds ICMP rounds."""
    clean_loss_pct: float = 3.0
    """A cable is clean when its path is not bad for loss and loses at most this much over the
    window (3 % of 300 packets: 0.5 % of random loss stays well under it)."""
    min_gain_ms: float = 5.0
    """A switch for speed needs a score gain of at least max(min_gain_ms, min_gain_pct % of
    the current score) ..."""
    min_gain_pct: float = 10.0
    dwell_s: float = 60.0
    """... sustained this long."""
    fast_gain_ms: float = 20.0
    """A gain of at least fast_gain_ms or fast_gain_pct % of the current score is large ..."""
    fast_gain_pct: float = 50.0
    fast_dwell_s: float = 5.0
    """... and needs to last only fast_dwell_s."""
    holddown_s: float = 300.0
    """A cable left because of a fault is not recommended again before it has been clean this
    long (no flapping back while a repair settles)."""

    @classmethod
    def from_table(cls, t: Table | None) -> FailoverSettings:
        if t is None:
            return cls()
        out = cls(**t.read(
            window_rounds=Int(1, 1000), clean_loss_pct=Num(0), min_gain_ms=Num(0),
            min_gain_pct=Num(0), dwell_s=Num(0), holddown_s=Num(0), fast_gain_ms=Num(0),
            fast_gain_pct=Num(0), fast_dwell_s=Num(0),
        ))  # fmt: skip
        t.finish()
        return out
