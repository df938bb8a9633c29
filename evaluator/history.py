"""A path's recent rounds, compact: the failover scores and the API's windows read them.

A deque of tuples costs about 160 bytes a round in Python objects (27,000 paths x 1,000
rounds: over 4 GB, and work for the garbage collector); this ring of typed arrays costs 28
(the counts as 16-bit integers, the time, median and jitter as doubles: what was read, exactly)
and holds no object the collector tracks.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

__all__ = ["RoundHistory", "RoundStats"]

RoundStats = tuple[int, int, float | None, float | None]
"""(sent, received, median_ms, jitter_ms) of one round."""
_NONE = math.nan


class RoundHistory:
    __slots__ = ("_jitter", "_median", "_received", "_sent", "_start", "_time", "maxlen")

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self._sent = array("H")
        self._received = array("H")
        self._median = array("d")
        self._jitter = array("d")
        self._time = array("d")
        self._start = 0
        """Where the oldest round is, once the ring is full."""

    def __len__(self) -> int:
        return len(self._time)

    def append(self, stats: RoundStats, time_s: float) -> None:
        sent, received, median_ms, jitter_ms = stats
        sent, received = min(sent, 65535), min(received, 65535)
        median = _NONE if median_ms is None else median_ms
        jitter = _NONE if jitter_ms is None else jitter_ms
        if len(self._time) < self.maxlen:
            self._sent.append(sent)
            self._received.append(received)
            self._median.append(median)
            self._jitter.append(jitter)
            self._time.append(time_s)
            return
        i = self._start
        self._sent[i], self._received[i], self._median[i] = sent, received, median
        self._jitter[i], self._time[i] = jitter, time_s
        self._start = (i + 1) % self.maxlen

    def _index(self, k: int) -> int:
        """Where the k-th oldest round is (k may be negative: from the newest)."""
        n = len(self._time)
        return (self._start + k % n) % n

    def time(self, k: int) -> float:
        return self._time[self._index(k)]

    def __getitem__(self, k: int) -> RoundStats:
        i = self._index(k)
        median, jitter = self._median[i], self._jitter[i]
        return (self._sent[i], self._received[i], None if math.isnan(median) else median,
                None if math.isnan(jitter) else jitter)  # fmt: skip

    def columns(self, n: int) -> tuple[array[int], array[int], array[float], array[float]]:
        """The newest ``n`` rounds (all if fewer), oldest first, as columns: sent, received,
        median_ms, jitter_ms (NaN: none)."""
        size = len(self._time)
        k = min(n, size)
        a = (self._start + size - k) % size if size else 0  # where the first of them is
        b = a + k

        def cut(values: array[Any]) -> array[Any]:
            return values[a:b] if b <= size else values[a:] + values[: b - size]

        return cut(self._sent), cut(self._received), cut(self._median), cut(self._jitter)

    def last(self, n: int) -> list[RoundStats]:
        """The newest ``n`` rounds (all if fewer), oldest first."""
        sent, received, median, jitter = self.columns(n)
        medians = [None if m != m else m for m in median]  # NaN: None
        jitters = [None if j != j else j for j in jitter]
        return list(zip(sent, received, medians, jitters, strict=True))
