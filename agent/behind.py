"""When the agent falls behind its schedule, say so in the log: once when it starts, then at
most once a period with the rounds skipped since (a saturated agent skips thousands of rounds
a minute; a line each would drown the log). The counter in the metrics stays exact."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Behind"]


@dataclass(slots=True)
class Behind:
    every_s: float = 60.0
    _skipped: int = 0
    _since: float | None = None
    """When the rounds counted in ``_skipped`` began (the last report, or the first skip)."""
    _last: float | None = None

    def skipped(self, n: int, now: float, jobs: int) -> str | None:
        """Count ``n`` skipped rounds at ``now`` (monotonic s); the log line when one is due."""
        if n <= 0:
            return None
        if self._since is None:
            self._since = now
        self._skipped += n
        if self._last is not None and now - self._last < self.every_s:
            return None
        span_s = max(now - self._since, 0.0)
        first = self._last is None
        self._last, self._since, count = now, now, self._skipped
        self._skipped = 0
        when = "just now" if first else f"in the last {span_s:.0f} s"
        return (
            f"falling behind: {count} round{'' if count == 1 else 's'} skipped {when} "
            f"({jobs} probe jobs); this host "
            "cannot keep the schedule: spread the targets over more agents or raise interval_s"
        )
