"""Our histograms expose what prometheus_client's Histogram exposes for the same observations
(bucket counts, count, sum, the bounds' spelling), with the agent's own buckets."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from cablewatch.collectors.histograms import HistogramFamily
from cablewatch.probes.buckets import EXCESS_BUCKETS, RTT_BUCKETS


def _samples(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return sorted(ln for ln in text.splitlines()
                  if ln and not ln.startswith("#") and "_created" not in ln)  # fmt: skip


@pytest.mark.parametrize("buckets", [RTT_BUCKETS, EXCESS_BUCKETS])
def test_the_exposition_equals_prometheus_clients(buckets: tuple[float, ...]) -> None:
    rng = random.Random(7)
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    mine = HistogramFamily("x_seconds", "X.", ("region", "cable"), buckets, ours)
    ref = Histogram("x_seconds", "X.", ("region", "cable"), buckets=buckets, registry=theirs)
    values = [rng.expovariate(30) for _ in range(2000)] + list(buckets[:10]) + [0.0, 99.0]
    for i, v in enumerate(values):
        labels = ("singapore", ("ADC", "SJC", "APCN-2")[i % 3])
        mine.labels(*labels).observe(v)
        ref.labels(*labels).observe(v)
    got, want = _samples(ours), _samples(theirs)
    assert len(got) == 3 * (len(buckets) + 1 + 2)  # buckets and +Inf, count, sum per child
    assert got == want


def test_a_value_on_a_bound_counts_in_that_bucket() -> None:
    reg = CollectorRegistry()
    h = HistogramFamily("y", "Y.", (), (0.1, 0.2), reg)
    for v in (0.1, 0.15, 0.2, 0.3):
        h.labels().observe(v)
    assert reg.get_sample_value("y_bucket", {"le": "0.1"}) == 1
    assert reg.get_sample_value("y_bucket", {"le": "0.2"}) == 3
    assert reg.get_sample_value("y_bucket", {"le": "+Inf"}) == 4
    assert reg.get_sample_value("y_count") == 4
    with pytest.raises(ValueError, match="expected labels"):
        h.labels("extra")
