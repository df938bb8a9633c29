"""Round statistics from per-packet RTTs (pure functions, no I/O).

A lost packet is ``None``: it has no RTT (RFC 2681) and counts only towards loss (RFC 6673).

Delay variation, two definitions side by side:

- ``jitter_ms``: RFC 3550 section 6.4.1 interarrival jitter, ``J += (|D| - J) / 16`` where ``D``
  is the RTT difference between consecutive *received* packets (as an RTP receiver skips lost
  ones), starting from ``J = 0``.
- ``ipdv_ms``: mean absolute IP packet delay variation (RFC 3393 / RFC 5481) over pairs of
  packets adjacent in sending order; a pair with a lost packet has no IPDV and is skipped.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from cablewatch.values import percentile

__all__ = ["RttSummary", "mean_abs_ipdv", "rfc3550_jitter", "summarize"]


@dataclass(frozen=True, slots=True)
class RttSummary:
    """One probe round: what was sent, what came back, and how long it took."""

    sent: int
    received: int
    loss_pct: float
    min_ms: float | None
    avg_ms: float | None
    median_ms: float | None
    max_ms: float | None
    stddev_ms: float | None
    """Population standard deviation, as ping's ``mdev`` and Telegraf's ping plugin."""
    jitter_ms: float | None
    ipdv_ms: float | None

    def fields(self) -> dict[str, float | int | None]:
        """Our field names, then Telegraf ping-plugin names for the same figures."""
        ours: dict[str, float | int | None] = asdict(self)
        return ours | self.telegraf_fields()

    def telegraf_fields(self) -> dict[str, float | int | None]:
        return {
            "packets_transmitted": self.sent,
            "packets_received": self.received,
            "percent_packet_loss": self.loss_pct,
            "minimum_response_ms": self.min_ms,
            "average_response_ms": self.avg_ms,
            "maximum_response_ms": self.max_ms,
            "standard_deviation_ms": self.stddev_ms,
        }


def rfc3550_jitter(rtts_ms: Sequence[float | None]) -> float | None:
    """RFC 3550 interarrival jitter over consecutive received packets; None if < 2 received."""
    got = [r for r in rtts_ms if r is not None]
    if len(got) < 2:
        return None
    jitter = 0.0
    for prev, cur in itertools.pairwise(got):
        jitter += (abs(cur - prev) - jitter) / 16.0
    return jitter


def mean_abs_ipdv(rtts_ms: Sequence[float | None]) -> float | None:
    """Mean |IPDV| over sending-order neighbours that both arrived; None if no such pair."""
    diffs = [abs(b - a) for a, b in itertools.pairwise(rtts_ms) if a is not None and b is not None]
    if not diffs:
        return None
    return sum(diffs) / len(diffs)


def summarize(rtts_ms: Sequence[float | None]) -> RttSummary:
    """Summarise one round; ``rtts_ms[i]`` is packet i's RTT, or None if it was lost."""
    sent = len(rtts_ms)
    got = [r for r in rtts_ms if r is not None]
    received = len(got)
    loss = 100.0 * (sent - received) / sent if sent else 0.0
    if not got:
        return RttSummary(sent, 0, loss, None, None, None, None, None, None, None)
    avg = sum(got) / received
    stddev = math.sqrt(sum((r - avg) ** 2 for r in got) / received)
    return RttSummary(
        sent=sent,
        received=received,
        loss_pct=loss,
        min_ms=min(got),
        avg_ms=avg,
        median_ms=percentile(got, 50.0),
        max_ms=max(got),
        stddev_ms=stddev,
        jitter_ms=rfc3550_jitter(rtts_ms),
        ipdv_ms=mean_abs_ipdv(rtts_ms),
    )
