"""An SLA policy: what one customer was sold, in which regions, over which cables.

Definitions (the evaluator, the generated Prometheus rules and the reports all use these):

- **Bad minute** of a path (region, cable), per wall-clock minute: the round-trip packet loss
  of the minute's ICMP probes (RFC 6673 round-trip loss, as a ratio of packets, RFC 7680) is
  above ``bad_minute_loss_pct``, or the median round-trip delay of the replies (RFC 2681; a
  reply after the timeout is loss, never a delay) is above ``bad_minute_rtt_ms``.
- A minute with fewer than ``min_packets`` packets sent is **no data** (a probe gap: the agent
  was down or behind). It is neither good nor bad: it never counts as network downtime.
- A **region's minute** (what the customer feels, with traffic on the best cable; cablewatch's
  failover recommendations keep it there) is good when at least one of the policy's cables had a
  good minute, bad when every cable with data had a bad one, no data when none had data.
- A minute inside a **maintenance window** (sla/maintenance.py) is **excluded**: neither good,
  bad nor no data. A region's minute is excluded when its region or the station is under
  maintenance; a cable's window excludes only that cable's path minutes.
- **Objectives** over ``objective_window_s`` (default the last hour), on the best cable: RTT
  p95 of every ICMP reply (``rtt_p95_ms``), round-trip loss (``loss_pct``) and, when set, the
  p95 of the time to first token of the streaming LLM API (``ttft_p95_ms``: the ``ttft``
  probe's, from the start of the connection to the first token, what the customer waits).
  A status is compliant when every objective with data is met.
- **Availability** = good minutes / minutes with data, over the period.
- **Credit**: the policy's tiers (``credits``), e.g. below 99.9 % -> 10 %, below 99 % -> 25 %;
  a region owes the credit of the lowest tier its availability falls below (the largest credit);
  the customer is owed the largest credit over its regions, in % of the period's fee.
- **Error budget** = (1 - availability objective) x the period's minutes; the budget left is
  1 - bad minutes / budget.
- **Burn rate** over a window = (bad minutes / minutes with data in the window) / (1 - objective):
  1 spends the budget exactly over the period (Google SRE workbook, "Alerting on SLOs").
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from cablewatch.schema import Int, Num, Table
from cablewatch.topology.model import normalise_name

__all__ = ["BURN_ALERTS", "BurnAlert", "CreditTier", "SlaPolicy"]


@dataclass(frozen=True, slots=True)
class CreditTier:
    below_pct: float
    """Availability below this ..."""
    credit_pct: float
    """... owes this share of the period's fee."""


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    customer: str
    regions: tuple[str, ...]
    cables: tuple[str, ...]
    availability_pct: float = 99.9
    period_days: int = 30
    rtt_p95_ms: float = 100.0
    """Objective: the 95th percentile of every reply's RTT over ``objective_window_s``."""
    loss_pct: float = 1.0
    """Objective: round-trip loss over ``objective_window_s``."""
    ttft_p95_ms: float | None = None
    """Objective, when set: the 95th percentile of the time to first token of the streaming
    LLM API (the ``ttft`` probe's ``ttft_ms``) over ``objective_window_s``."""
    objective_window_s: int = 3600
    bad_minute_loss_pct: float = 5.0
    bad_minute_rtt_ms: float = 150.0
    min_packets: int = 5
    credits: tuple[CreditTier, ...] = ()
    """Sorted by ``below_pct``, highest first."""

    def credit_pct(self, availability_pct: float | None) -> float:
        """The credit owed for ``availability_pct`` (0 without data or above every tier)."""
        if availability_pct is None:
            return 0.0
        owed = [c.credit_pct for c in self.credits if availability_pct < c.below_pct]
        return max(owed, default=0.0)

    @classmethod
    def from_table(
        cls, t: Table, cables: Mapping[str, str], region_ids: Collection[str]
    ) -> SlaPolicy | None:
        """``cables`` maps each cable's normalised name to its name (names are matched as
        the rest of the configuration matches them)."""
        customer = t.identifier("customer")
        regions = t.string_list("regions")
        listed = t.string_list("cables", required=False)
        v = t.read(
            availability_pct=Num(0, 100, low_open=True), period_days=Int(1, 400),
            rtt_p95_ms=Num(0, low_open=True), loss_pct=Num(0, 100),
            ttft_p95_ms=Num(0, low_open=True), objective_window_s=Int(60),
            bad_minute_loss_pct=Num(0, 100), bad_minute_rtt_ms=Num(0, low_open=True),
            min_packets=Int(1),
        )  # fmt: skip
        credits = _credits(t)
        t.finish()
        unknown = [r for r in regions or () if r not in region_ids]
        if unknown:
            known = ", ".join(sorted(region_ids))
            t.problem("regions", f"unknown region {unknown[0]!r} (known: {known})")
        names = listed or list(cables.values())
        key = {normalise_name(n): n for n in names}
        strangers = [n for k, n in key.items() if k not in cables]
        if strangers:
            known = ", ".join(cables.values())
            t.problem("cables", f"unknown cable {strangers[0]!r} (known: {known})")
        if v.get("availability_pct") == 100:
            t.problem("availability_pct", "got 100, expected less than 100: a 100 % objective "
                      "leaves no error budget")  # fmt: skip
            return None
        if customer is None or regions is None or unknown or strangers:
            return None
        return cls(customer, tuple(regions), tuple(cables[k] for k in key), **v,
                   credits=credits)  # fmt: skip

    @property
    def error_ratio(self) -> float:
        """The share of minutes that may be bad: 1 - objective."""
        return 1.0 - self.availability_pct / 100.0

    @property
    def budget_minutes(self) -> float:
        return self.error_ratio * self.period_days * 1440


def _credits(t: Table) -> tuple[CreditTier, ...]:
    """``credits = [{below_pct = 99.9, credit_pct = 10}, ...]``: a larger credit further down."""
    tiers: list[CreditTier] = []
    for c in t.tables("credits", required=False):
        below = c.number("below_pct", low=0, high=100, low_open=True)
        credit = c.number("credit_pct", low=0, high=100, low_open=True)
        c.finish()
        if below is not None and credit is not None:
            tiers.append(CreditTier(below, credit))
    tiers.sort(key=lambda c: -c.below_pct)
    for higher, lower in itertools.pairwise(tiers):
        if lower.below_pct == higher.below_pct or lower.credit_pct <= higher.credit_pct:
            t.problem("credits", f"the tier below {lower.below_pct:g} % must owe more than the "
                      f"tier below {higher.below_pct:g} % (got {lower.credit_pct:g} % and "
                      f"{higher.credit_pct:g} %)")  # fmt: skip
            return ()
    return tuple(tiers)


@dataclass(frozen=True, slots=True)
class BurnAlert:
    """Multiwindow, multi-burn-rate alert: fires when both windows burn faster than ``rate``."""

    name: str
    severity: str
    long_s: int
    short_s: int
    rate: float


BURN_ALERTS: tuple[BurnAlert, ...] = (
    # The SRE workbook's table for a 30-day budget: 2 % of it spent in 1 h, 5 % in 6 h: page;
    # 10 % in 3 days: ticket. The short window (1/12 of the long) makes the alert stop soon
    # after the burn stops.
    BurnAlert("CablewatchSlaBurnFast", "critical", 3600, 300, 14.4),
    BurnAlert("CablewatchSlaBurnSlow", "critical", 6 * 3600, 1800, 6.0),
    BurnAlert("CablewatchSlaBurnTicket", "warning", 3 * 86400, 6 * 3600, 1.0),
)
