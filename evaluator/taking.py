"""Taking rounds once, in time order per path: what every round source shares.

A source hands its rows here (every path's in time order within each window). A row newer
than its path's *mark* (the stamp of the newest row taken) is taken (a round, unless it could
not send), up to the first whose write is still in progress (its later rows wait for the next
read) or that is stamped more than FUTURE_S ahead of the clock. A row at or below the mark was
either taken before (its stamp is remembered for ``lookback_s``) or is stamped behind its
path's last round (a clock stepped back): said, never given.
"""

from __future__ import annotations

import collections
from collections.abc import Collection

from cablewatch.collectors.read.rounds import RoundRow
from cablewatch.correlation.classify import PathKey
from cablewatch.correlation.detector import Round
from cablewatch.evaluator.source import FUTURE_S, Polled

__all__ = ["Taker"]


class Taker:
    def __init__(self, paths: Collection[PathKey], *, lookback_s: float, due_s: float) -> None:
        self.lookback_ns = int(lookback_s * 1e9)
        self.due_ns = int(due_s * 1e9)
        self.mark: dict[PathKey, int] = {}
        """Each path's newest row taken (its stamp, ns)."""
        self._seen: dict[PathKey, collections.deque[int]] = {
            key: collections.deque() for key in paths
        }
        """Each path's rows taken within ``lookback_s`` (stamps): a row found again below the
        mark is one of them, or a row stamped behind."""

    def take(self, windows: list[list[RoundRow]], now_ns: int) -> Polled:
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
