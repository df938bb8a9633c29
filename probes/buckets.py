"""Histogram buckets for round-trip times, in seconds (the protocols' Prometheus series).

- ``RTT_BUCKETS``: exponential, as smokeping_prober's, four per octave (factor 2^(1/4), 100 us
  to 30.7 s, 73 buckets): any RTT within about 10 %.
- ``EXCESS_BUCKETS``: for the RTT above a path's physics floor, fine where RTTs live: 0.25 ms
  wide up to 5 ms above the floor, 0.5 ms up to 20 ms, then four per octave to 24 s (91
  buckets). A path's RTT quantile is its floor plus the excess quantile, within half a
  millisecond (``histogram_quantile`` interpolates inside one bucket;
  ../shared/environment.md), where the absolute buckets miss a 30 ms median by up to 2.5 ms.
"""

from __future__ import annotations

__all__ = ["EXCESS_BUCKETS", "RTT_BUCKETS"]

RTT_BUCKETS = tuple(round(0.0001 * 2 ** (i / 4), 9) for i in range(73))  # 100 us .. 30.7 s
EXCESS_BUCKETS = (
    *(round(0.00025 * i, 9) for i in range(1, 21)),  # 0.25 ms steps to 5 ms
    *(round(0.005 + 0.0005 * i, 9) for i in range(1, 31)),  # 0.5 ms steps to 20 ms
    *(round(0.02 * 2 ** (i / 4), 9) for i in range(1, 42)),  # four per octave to 24 s
)
