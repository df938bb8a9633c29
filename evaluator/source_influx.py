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

import collections
from collections.abc import AsyncIterator, Collection

from cablewatch.collectors.influx import InfluxQL
from cablewatch.collectors.read.rounds import RoundRow, Window, round_rows
from cablewatch.correlation.classify import PathKey
from cablewatch.correlation.detector import Round
from cablewatch.evaluator.source import FUTURE_S, Polled

__all__ = ["InfluxRounds"]


class InfluxRounds:
    def __init__(self, ql: InfluxQL, paths: Collection[PathKey], *, due_s: float,
                 lookback_s: float, incremental: bool = True) -> None:  # fmt: skip
        self.ql = ql
        self.due_ns = int(due_s * 1e9)
        self.lookback_ns = int(lookback_s * 1e9)
        self.incremental = incremental
        self.region_paths: dict[str, list[PathKey]] = {}
        for key in paths:
            self.region_paths.setdefault(key[0], []).append(key)
        self.mark: dict[PathKey, int] = {}
        """Each path's newest row read (its stamp, ns)."""
        self._seen: dict[PathKey, collections.deque[int]] = {
            key: collections.deque() for key in paths
        }
        """Each path's rows read within ``lookback_s`` (stamps): a row found again below the
        mark is one of them, or a row stamped behind."""

    async def history(self, since_s: float, now_s: float) -> AsyncIterator[list[Round]]:
        """In slices of ``lookback_s`` (27,000 paths x 40 s in one answer: 600,000 rows, and
        their rounds, in memory at once)."""
        now_ns, since_ns = int(now_s * 1e9), int(since_s * 1e9)
        while since_ns < now_ns:
            until_ns = min(since_ns + self.lookback_ns, now_ns)
            (rows,) = await round_rows(self.ql, [(since_ns, until_ns, None)])
            yield self._take([rows], now_ns).rounds
            since_ns = until_ns
        (rows,) = await round_rows(self.ql, [(now_ns, None, None)])  # stamped after now
        yield self._take([rows], now_ns).rounds

    async def poll(self, now_s: float) -> Polled:
        now_ns = int(now_s * 1e9)
        oldest = now_ns - self.lookback_ns
        windows: list[Window] = []
        if self.incremental:
            behind, marks = self._split(now_ns)
            if behind:
                windows.append((oldest, None, behind if marks else None))
            if marks:
                windows.append((max(min(marks), oldest), None, None))
        else:
            windows.append((oldest, None, None))
        return self._take(await round_rows(self.ql, windows), now_ns)

    def _split(self, now_ns: int) -> tuple[list[str], list[int]]:
        """Regions with a path behind; the marks of the others' paths."""
        due = now_ns - self.due_ns
        behind, marks = [], []
        for region, keys in self.region_paths.items():
            got = [self.mark.get(k, 0) for k in keys]
            low = min(got)
            if low < due:
                behind.append(region)
            else:
                marks.append(low)
        return behind, marks

    def _take(self, windows: list[list[RoundRow]], now_ns: int) -> Polled:
        """Each window's rows (windows in order, every path's rows in time order): a row newer
        than its path's mark is taken (a round, unless it could not send), up to the first
        whose write is still in progress (its later rows wait for the next read: rows.settled)
        or that is stamped more than FUTURE_S ahead."""
        out = Polled()
        ahead_limit = now_ns + int(FUTURE_S * 1e9)
        forget = now_ns - self.lookback_ns - self.due_ns
        mark, seen = self.mark, self._seen
        for rows in windows:
            out.rows += len(rows)
            stopped: set[PathKey] = set()
            for time_ns, region, cable, sent, received, median_ms, jitter_ms, min_ms in rows:
                key = (region, cable)
                stamps = seen.get(key)
                if stamps is None or key in stopped:
                    continue  # not a path of ours, or waiting for the next read
                last = mark.get(key)
                if last is not None and time_ns <= last:
                    if time_ns != last and time_ns not in stamps:
                        out.behind.add(key)
                    continue
                if sent is None or received is None:
                    stopped.add(key)  # its write is in progress
                    continue
                if time_ns > ahead_limit:  # and so are the path's later rows
                    out.ahead_s[region] = max(out.ahead_s.get(region, 0.0),
                                              (time_ns - now_ns) / 1e9)  # fmt: skip
                    continue
                mark[key] = time_ns
                stamps.append(time_ns)
                while stamps and stamps[0] < forget:
                    stamps.popleft()
                if sent:  # a round that could not send (no route, socket error): no verdict
                    out.rounds.append(Round(region, cable, time_ns / 1e9, int(sent),
                                            int(received), median_ms, jitter_ms,
                                            min_ms))  # fmt: skip
        return out
