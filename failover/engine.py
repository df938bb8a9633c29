"""Which cable each region should use (pure, stateful; time passed in).

Per region, on every update with the cables' scores (failover/score.py):

- **Fault**: the current cable is not clean (its detector says it is bad because it loses
  packets, or it lost more than ``clean_loss_pct`` over the window) and a clean cable exists:
  switch at once to the best clean cable. A cable that is losing packets is never recommended
  while a clean one exists. A path that is only slow (a delay step) stays clean: its score
  rises, and the speed rule below, with its dwell, decides.
- **Speed**: the best clean cable beats the current one by at least
  max(``min_gain_ms``, ``min_gain_pct`` % of the current score) continuously for ``dwell_s``:
  switch. A large gain (at least ``fast_gain_ms`` or ``fast_gain_pct`` % of the current
  score) while the current cable's path is slow (its detector saw a latency step: a region's
  RTT doubled) needs only ``fast_dwell_s``; noise never makes a path slow, so it never takes
  the short dwell. A smaller or interrupted gain resets the dwell.
- **Hold-down**: a cable left because of a fault is not eligible until it has been clean for
  ``holddown_s``: a repaired cable does not take traffic back while it settles.

Every recommendation carries its reason and every cable's score and components.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cablewatch.failover.score import Score
from cablewatch.failover.settings import FailoverSettings

__all__ = ["FailoverEngine", "Recommendation"]


@dataclass(frozen=True, slots=True)
class Recommendation:
    region: str
    cable: str
    previous: str | None
    since_s: float
    reason: str
    kind: str
    """'initial', 'fault', 'speed' or 'hold' (no switch possible: nothing clean)."""
    scores: tuple[Score, ...] = field(default=())


@dataclass
class _Region:
    current: Recommendation | None = None
    better: tuple[str, float] | None = None
    """(cable, since) while a clean cable beats the current one by enough."""
    clean_since: dict[str, float] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)
    """Cables left because of a fault, until clean for holddown_s."""


class FailoverEngine:
    def __init__(self, settings: FailoverSettings) -> None:
        self.settings = settings
        self.regions: dict[str, _Region] = {}
        self.version = 0
        """Increases on every change of any region's recommendation."""
        self.switches: dict[str, int] = {}

    def current(self, region: str) -> Recommendation | None:
        r = self.regions.get(region)
        return r.current if r else None

    def update(self, region: str, scores: Sequence[Score], now_s: float) -> Recommendation | None:
        """Take the region's latest scores; return the new recommendation if it changed."""
        s = self.settings
        st = self.regions.setdefault(region, _Region())
        by = {x.cable: x for x in scores}
        for x in scores:
            if x.clean:
                st.clean_since.setdefault(x.cable, now_s)
            else:
                st.clean_since.pop(x.cable, None)
        for cable in list(st.held):
            since = st.clean_since.get(cable)
            if since is not None and now_s - since >= s.holddown_s:
                st.held.discard(cable)
        clean = sorted(
            (x for x in scores if x.clean and x.score_ms is not None and x.cable not in st.held),
            key=lambda x: (x.score_ms, x.cable),
        )
        cur = st.current
        if cur is None:
            usable = clean or sorted((x for x in scores if x.score_ms is not None),
                                     key=lambda x: (x.score_ms, x.cable))  # fmt: skip
            if not usable:
                return None
            best = usable[0]
            return self._set(st, region, best.cable, None, now_s, "initial",
                             f"initial: best score {best.score_ms:.1f} ms", scores)  # fmt: skip
        now_cur = by.get(cur.cable)
        if now_cur is None or not now_cur.clean:
            if not clean:
                st.better = None
                return None  # nothing clean to go to: stay (the region's fault, not the cable's)
            best = clean[0]
            st.held.add(cur.cable)
            why = _fault_text(now_cur)
            return self._set(st, region, best.cable, cur.cable, now_s, "fault",
                             f"failover: {cur.cable} {why}; {best.cable} clean, score "
                             f"{best.score_ms:.1f} ms", scores)  # fmt: skip
        if not clean or clean[0].cable == cur.cable or now_cur.score_ms is None:
            st.better = None
            return None
        best = clean[0]
        assert best.score_ms is not None
        gain = now_cur.score_ms - best.score_ms
        if gain < max(s.min_gain_ms, s.min_gain_pct / 100 * now_cur.score_ms):
            st.better = None
            return None
        if st.better is None or st.better[0] != best.cable:
            st.better = (best.cable, now_s)
        slow = now_cur.stats is not None and now_cur.stats.state == "bad"
        large = slow and (
            gain >= s.fast_gain_ms or gain >= s.fast_gain_pct / 100 * now_cur.score_ms
        )
        if now_s - st.better[1] < (s.fast_dwell_s if large else s.dwell_s):
            return None
        return self._set(st, region, best.cable, cur.cable, now_s, "speed",
                         f"{best.cable} faster than {cur.cable} by {gain:.1f} ms for "
                         f"{now_s - st.better[1]:.0f} s", scores)  # fmt: skip

    def _set(self, st: _Region, region: str, cable: str, previous: str | None, now_s: float,
             kind: str, reason: str, scores: Sequence[Score]) -> Recommendation:  # fmt: skip
        st.better = None
        st.current = Recommendation(region, cable, previous, now_s, reason, kind, tuple(scores))
        self.version += 1
        if previous is not None:
            self.switches[region] = self.switches.get(region, 0) + 1
        return st.current


def _fault_text(score: Score | None) -> str:
    if score is None or score.stats is None:
        return "has no data"
    st = score.stats
    loss = "?" if st.loss_pct is None else f"{st.loss_pct:.0f}"
    if st.lossy:
        return f"is down (losing packets; {loss} % over the window)"
    return f"loses {loss} % of packets over the window"
