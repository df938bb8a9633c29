"""Histograms for many paths, as plain counts.

prometheus_client's ``Histogram`` keeps a locked value object per bucket and child (the
agent's RTT histograms have 73 and 91 buckets: about 1.9 million objects at 10,000 targets,
most of its memory) and finds an observation's bucket by scanning them in order. Here a child
is a list of per-bucket counts and a sum: observing is one ``bisect`` and two additions, and
the cumulative counts Prometheus expects are summed when it scrapes. The exposition is the
same: ``<name>_bucket{le=...}``, ``<name>_count`` and ``<name>_sum``, with prometheus_client's
spelling of each bound.

Observed from the event loop's thread, scraped from the exporter's: a scrape copies each
child's counts in one step (under the GIL), so it sees every observation whole or not at all
except that the sum may be one observation ahead of the counts.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import cast

from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

__all__ = ["HistogramChild", "HistogramFamily"]

_go_float = cast(Callable[[float], str], floatToGoString)  # untyped upstream


class HistogramChild:
    __slots__ = ("_bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        """Per bucket (the last one: above every bound), not cumulative."""
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # le is "less than or equal": the first bound >= value
        self.counts[bisect.bisect_left(self._bounds, value)] += 1
        self.sum += value


class HistogramFamily(Collector):
    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str],
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        bounds = sorted(float(b) for b in buckets if b != float("inf"))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError(f"{name}: buckets must be distinct finite bounds")
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._bounds = tuple(bounds)
        self._le = [_go_float(b) for b in bounds] + ["+Inf"]
        self._children: dict[tuple[str, ...], HistogramChild] = {}
        registry.register(self)

    def labels(self, *values: str) -> HistogramChild:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
        key = tuple(str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = HistogramChild(self._bounds)
        return child

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in list(self._children.items()):
            counts, total = child.counts[:], child.sum
            cumulative, running = [], 0
            for le, n in zip(self._le, counts, strict=True):
                running += n
                cumulative.append((le, float(running)))
            family.add_metric(list(key), cumulative, total)
        yield family
