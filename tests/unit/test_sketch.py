"""The RTT sketch (sla/sketch.py): every quantile within 0.1 % of the exact nearest-rank one,
merging exact whatever the split, and its text form round-trips."""

from __future__ import annotations

import math
import random

import pytest

from cablewatch.errors import CablewatchError
from cablewatch.sla.sketch import ALPHA, RttSketch, merged


def _exact(values: list[float], q: float) -> float:
    """InfluxQL's percentile: nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.floor(len(ordered) * q + 0.5) - 1)]


@pytest.mark.parametrize("seed", range(5))
def test_quantiles_stay_within_the_relative_error(seed: int) -> None:
    rng = random.Random(seed)
    floor = rng.uniform(3, 60)  # a lab path: floor plus half-normal jitter, a few outliers
    values = [floor + abs(rng.gauss(0, 2)) + (rng.random() < 0.01) * 40 for _ in range(5000)]
    sketch = RttSketch.of(values)
    for q in (0.01, 0.5, 0.9, 0.95, 0.99, 1.0):
        got = sketch.quantile(q)
        assert got is not None
        assert abs(got - _exact(values, q)) <= ALPHA * _exact(values, q) + 1e-12, q


def test_merging_minutes_is_the_sketch_of_all_their_replies() -> None:
    rng = random.Random(7)
    minutes = [[30 + rng.expovariate(1.0) for _ in range(rng.randint(1, 300))] for _ in range(90)]
    whole = RttSketch.of(v for m in minutes for v in m)
    parts = merged(RttSketch.decode(RttSketch.of(m).encode()) for m in minutes)
    assert parts is not None
    assert parts.counts == whole.counts
    everything = [v for m in minutes for v in m]
    p95 = parts.quantile(0.95)
    assert p95 is not None
    assert abs(p95 - _exact(everything, 0.95)) <= ALPHA * _exact(everything, 0.95)
    # the old way, the 95th percentile of the minutes' 95th percentiles, is not the same
    of_p95s = _exact([_exact(m, 0.95) for m in minutes], 0.95)
    assert abs(of_p95s - _exact(everything, 0.95)) > 10 * ALPHA * _exact(everything, 0.95)


def test_edges() -> None:
    assert RttSketch().quantile(0.5) is None
    assert merged([None, None]) is None
    one = RttSketch.of([0.0])  # 0 and tiny values count at 1 us
    assert one.quantile(0.5) == pytest.approx(0.001, rel=ALPHA)
    assert RttSketch.decode("") == RttSketch()
    with pytest.raises(CablewatchError, match="not an RTT sketch"):
        RttSketch.decode("12:x")
