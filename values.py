"""Value types and statistics every layer shares (probes, the evaluator, failover, reports):
what a stored field may hold, and the one percentile definition."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["FieldValue", "percentile", "percentile_sorted"]

FieldValue = float | int | bool | str
"""A stored field's value (InfluxDB line protocol: float, integer, boolean, string)."""


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (NumPy's default, "linear"); ``q`` in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got {q}")
    return percentile_sorted(sorted(values), q)


def percentile_sorted(ordered: Sequence[float], q: float) -> float:
    """:func:`percentile` of values already in ascending order (one sort for several)."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got {q}")
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
