"""Rounds from InfluxDB, reading only what is new.

InfluxDB 1.x cannot be read in the order points arrived, only by their time stamps, so "what is
new" is kept per path: the stamp of the newest row read (its *mark*). A poll reads, in one
request:

- the regions whose paths are all *on time* (each read a round within ``due_s``: a round's
  interval, its duration, the agent's flush and one poll), from the oldest of their marks on:
  about the last round or two of every path, where a full re-read takes ``lookback_s`` of them;
- the regions with a path behind (an agent late, stopped, or never heard), each from
  ``lookback_s`` ago: their late rounds are still taken, and rounds stamped before a mark are
  seen and said (a clock stepped back).

A row is taken once: only if newer than its path's mark. So a round is judged if it becomes
readable within ``lookback_s`` of its stamp (the detection's ``stale_s``, 10.5 s at 1 s rounds;
later than that, its path has already gone unknown, as with the full re-read) and is newer than
its path's last judged round (a detector takes rounds in time order). With ``incremental=False``
every poll re-reads ``lookback_s`` of every path (the reference the incremental reads are
compared with: the same rounds, the same order).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection

from cablewatch.collectors.influx import InfluxQL
from cablewatch.collectors.read.rounds import Window, round_rows
from cablewatch.correlation.classify import PathKey
from cablewatch.correlation.detector import Round
from cablewatch.evaluator.source import Polled
from cablewatch.evaluator.taking import Taker

__all__ = ["InfluxRounds"]


class InfluxRounds:
    def __init__(self, ql: InfluxQL, paths: Collection[PathKey], *, due_s: float,
                 lookback_s: float, incremental: bool = True) -> None:  # fmt: skip
        self.ql = ql
        self.incremental = incremental
        self.region_paths: dict[str, list[PathKey]] = {}
        for key in paths:
            self.region_paths.setdefault(key[0], []).append(key)
        self.taker = Taker(paths, lookback_s=lookback_s, due_s=due_s)

    async def history(self, since_s: float, now_s: float) -> AsyncIterator[list[Round]]:
        """In slices of ``lookback_s`` (27,000 paths x 40 s in one answer: 600,000 rows, and
        their rounds, in memory at once)."""
        now_ns, since_ns = int(now_s * 1e9), int(since_s * 1e9)
        while since_ns < now_ns:
            until_ns = min(since_ns + self.taker.lookback_ns, now_ns)
            (rows,) = await round_rows(self.ql, [(since_ns, until_ns, None)])
            yield self.taker.take([rows], now_ns).rounds
            since_ns = until_ns
        (rows,) = await round_rows(self.ql, [(now_ns, None, None)])  # stamped after now
        yield self.taker.take([rows], now_ns).rounds

    async def poll(self, now_s: float) -> Polled:
        now_ns = int(now_s * 1e9)
        oldest = now_ns - self.taker.lookback_ns
        windows: list[Window] = []
        if self.incremental:
            behind, marks = self._split(now_ns)
            if behind:
                windows.append((oldest, None, behind if marks else None))
            if marks:
                windows.append((max(min(marks), oldest), None, None))
        else:
            windows.append((oldest, None, None))
        return self.taker.take(await round_rows(self.ql, windows), now_ns)

    def _split(self, now_ns: int) -> tuple[list[str], list[int]]:
        """Regions with a path behind; the marks of the others' paths."""
        due = now_ns - self.taker.due_ns
        behind, marks = [], []
        for region, keys in self.region_paths.items():
            got = [self.taker.mark.get(k, 0) for k in keys]
            low = min(got)
            if low < due:
                behind.append(region)
            else:
                marks.append(low)
        return behind, marks
