"""Is a path losing packets? A sequential test on every packet, not a per-round threshold.

Page's CUSUM (E. S. Page, "Continuous inspection schemes", 1954) on the packets of each
round, weighing two hypotheses: a healthy path that loses ``p0 = loss_good_pct`` and a faulty
one that loses ``p1 = loss_bad_pct``. Each round of ``sent`` packets, ``lost`` of them lost,
adds its log-likelihood ratio::

    llr = lost x ln(p1 / p0) + (sent - lost) x ln((1 - p1) / (1 - p0))

- While the path is good, ``up = max(0, up + llr)``; it turns bad when ``up`` reaches
  ``loss_evidence`` (the packets since the evidence began are e^13.8, about a million, times
  likelier under p1 than p0).
- While it is bad, ``down = max(0, down - llr)``; it turns good when ``down`` reaches
  ``loss_clear_evidence`` (e^6.9, about 1,000).

With the defaults (2 % and 25 %), a lost packet adds 2.53 and a received one takes 0.27
away: 6 lost packets in a row are enough (a cut: two rounds of 5; one lost round is not, as a
probe host that stalls for a moment can lose one; many regions losing the same round is, by
the evaluator's multi-vantage rule); 30 % loss drifts up by 0.57 a packet (bad after about 24
packets, 5 rounds) and never down, so it stays one steady state instead of flapping; 0.5 %
random loss drifts down by 0.25 a packet. Simulated over 3 million rounds of 5 packets: no
false alarm at 0.5 %, 1 % or 2 % of random loss; 0.68 per path-hour at 5 % (at 1 s rounds),
which is a real degradation. A path recovers from a cut after about 26 good packets (6 rounds).
"""

from __future__ import annotations

import math

from cablewatch.correlation.settings import DetectionSettings

__all__ = ["LossTest"]


class LossTest:
    def __init__(self, settings: DetectionSettings) -> None:
        p0, p1 = settings.loss_good_pct / 100, settings.loss_bad_pct / 100
        self.lost_weight = math.log(p1 / p0)
        self.received_weight = math.log((1 - p1) / (1 - p0))
        self.enter = settings.loss_evidence
        self.leave = settings.loss_clear_evidence
        self.bad = False
        self.up = 0.0
        self.down = 0.0
        self.since_s: float | None = None
        """When the current climb of evidence began (the first round that added to it)."""
        self.climb_rounds = 0
        """Rounds since then."""

    def update(self, sent: int, received: int, time_s: float) -> bool:
        """Take a round; True when the test's state changed."""
        llr = (sent - received) * self.lost_weight + received * self.received_weight
        toward = -llr if self.bad else llr  # evidence for the other state
        before = self.down if self.bad else self.up
        if before == 0.0 and toward > 0:
            self.since_s, self.climb_rounds = time_s, 0
        after = max(0.0, before + toward)
        self.climb_rounds += 1
        if self.bad:
            self.down = after
        else:
            self.up = after
        if after < (self.leave if self.bad else self.enter):
            return False
        self.bad = not self.bad
        self.up = self.down = 0.0
        return True

    def force_bad(self, time_s: float) -> bool:
        """Other vantage points agree that the cable lost everything: bad at once (True if
        that is a change)."""
        if self.bad:
            self.down = 0.0
            return False
        if self.up == 0.0:
            self.since_s, self.climb_rounds = time_s, 1
        self.bad, self.up, self.down = True, 0.0, 0.0
        return True
