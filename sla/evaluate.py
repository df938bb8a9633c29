"""SLA evaluation, pure: per-minute measurements in, status, budget and burn rates out.

See :mod:`cablewatch.sla.policy` for the definitions. Minutes are keyed by their start (Unix
seconds, a multiple of 60). A window of W seconds at time ``now_s`` holds the W / 60 most recent
complete minutes (the minute in progress is left out), or, for a live status (``ongoing``,
once the minute in progress has a round), the minute in progress and the W / 60 - 1 complete
ones before it: the minute in progress is judged on its rounds so far (its ``min_packets`` in
proportion to the seconds gone), so a status has figures from the first round, not a minute
later. Burn-rate alerts fire on complete
minutes only: a minute half gone is not evidence enough to page anyone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cablewatch.sla.maintenance import MaintenanceWindow, excluded
from cablewatch.sla.policy import BURN_ALERTS, BurnAlert, SlaPolicy
from cablewatch.sla.sketch import RttSketch

__all__ = [
    "ANY_CABLE",
    "Minute",
    "MinuteState",
    "SlaStatus",
    "best_cable_states",
    "burn_rate",
    "evaluate_path",
    "evaluate_region",
    "minute_state",
    "path_states",
    "region_minute_state",
    "region_states",
    "window_minutes",
]

MinuteState = Literal["good", "bad", "nodata", "excluded"]
ANY_CABLE = "any"
"""The ``cable`` of a region's row: the best of the policy's cables, minute by minute."""


@dataclass(frozen=True, slots=True)
class Minute:
    """One path's ICMP probes of one wall-clock minute."""

    start_s: int
    sent: int
    received: int
    median_rtt_ms: float | None
    """Median RTT of the minute's replies; None when none came back."""
    rtt_p95_ms: float | None = None
    """95th percentile of the minute's replies (the rollups carry it; reports use it)."""
    jitter_ms: float | None = None
    """Mean of the minute's rounds' jitter."""
    ttft_p95_ms: float | None = None
    """95th percentile of the minute's times to first token (``ttft`` probe), if any ran."""
    rtt_sketch: RttSketch | None = field(default=None, hash=False)
    """Every reply's RTT, summarised to merge with other minutes (sla/sketch.py): a period's
    percentiles come from its minutes' sketches merged."""


def minute_state(
    minute: Minute | None, policy: SlaPolicy, *, out: bool = False, elapsed_s: float = 60.0
) -> MinuteState:
    """``out``: the minute lies in a maintenance window (excluded, whatever was measured).
    ``elapsed_s``: how much of the minute has gone (the minute in progress: less than 60),
    which scales the packets it needs."""
    if out:
        return "excluded"
    needed = policy.min_packets if elapsed_s >= 60 else max(
        1, math.ceil(policy.min_packets * elapsed_s / 60))  # fmt: skip
    if minute is None or minute.sent < needed:
        return "nodata"
    loss_pct = 100.0 * (minute.sent - minute.received) / minute.sent
    if loss_pct > policy.bad_minute_loss_pct:
        return "bad"
    if minute.median_rtt_ms is not None and minute.median_rtt_ms > policy.bad_minute_rtt_ms:
        return "bad"
    return "good"


def region_minute_state(states: Iterable[MinuteState]) -> MinuteState:
    """Good if any cable was good; bad if every cable with data was bad; excluded if none had
    data and a cable was under maintenance; else no data."""
    seen = set(states)
    for state in ("good", "bad", "excluded"):
        if state in seen:
            return state
    return "nodata"


def path_states(
    policy: SlaPolicy,
    region: str,
    cable: str,
    minutes: Mapping[int, Minute],
    starts: Iterable[int],
    maintenance: Sequence[MaintenanceWindow] = (),
    now_s: float | None = None,
) -> dict[int, MinuteState]:
    """Each minute's state on one path; with ``now_s``, the minute in progress as far as it
    has gone."""
    return {
        s: minute_state(minutes.get(s), policy, out=excluded(maintenance, region, cable, s),
                        elapsed_s=60.0 if now_s is None else min(60.0, now_s - s))
        for s in starts
    }  # fmt: skip


def region_states(
    policy: SlaPolicy,
    region: str,
    paths: Mapping[str, Mapping[int, Minute]],
    starts: Iterable[int],
    maintenance: Sequence[MaintenanceWindow] = (),
    now_s: float | None = None,
) -> dict[int, MinuteState]:
    """Each minute's state of the region as the customer feels it (its best cable)."""
    minutes = list(starts)
    per_cable = {c: path_states(policy, region, c, m, minutes, maintenance, now_s)
                 for c, m in paths.items()}  # fmt: skip
    return best_cable_states(region, per_cable, minutes, maintenance)


def best_cable_states(
    region: str,
    per_cable: Mapping[str, Mapping[int, MinuteState]],
    starts: Iterable[int],
    maintenance: Sequence[MaintenanceWindow] = (),
) -> dict[int, MinuteState]:
    """The region's minutes from its paths' (:func:`path_states` of each cable): excluded when
    the region or the station is under maintenance, else the best of its cables."""
    return {
        s: "excluded" if excluded(maintenance, region, None, s)
        else region_minute_state(states[s] for states in per_cable.values())
        for s in starts
    }  # fmt: skip


def window_minutes(now_s: float, window_s: int, *, ongoing: bool = False) -> range:
    """Starts of the complete minutes of the window ending at ``now_s``; ``ongoing``: the
    minute in progress instead of the oldest of them."""
    end = int(now_s // 60 * 60) + (60 if ongoing else 0)
    return range(end - window_s // 60 * 60, end, 60)


def burn_rate(states: Sequence[MinuteState], policy: SlaPolicy) -> float | None:
    """(bad / minutes with data) / (1 - objective); None without data."""
    known = sum(1 for s in states if s in ("good", "bad"))
    if known == 0:
        return None
    bad = sum(1 for s in states if s == "bad")
    return bad / known / policy.error_ratio


@dataclass(frozen=True, slots=True)
class SlaStatus:
    customer: str
    region: str
    cable: str
    """A cable's name, or ANY_CABLE for the region as the customer feels it."""
    good_minutes: int
    bad_minutes: int
    nodata_minutes: int
    excluded_minutes: int
    availability_pct: float | None
    budget_minutes: float
    budget_left_pct: float
    burn_rates: Mapping[str, float | None]
    """Keyed by window ('5m', '1h', ...)."""
    rtt_p95_ms: float | None
    loss_pct: float | None
    ttft_p95_ms: float | None = None
    """p95 of the time to first token over the objective window (best cable, for a region)."""
    alerts: tuple[str, ...] = field(default=())
    """Names of the burn-rate alerts that fire."""
    availability_ok: bool | None = None
    rtt_ok: bool | None = None
    loss_ok: bool | None = None
    ttft_ok: bool | None = None
    """None without data or when the policy sets no TTFT objective."""
    ongoing: MinuteState | None = None
    """The minute in progress as judged so far, when it is counted in the figures above (a
    live status, once the minute has a round); None when they are of complete minutes only.
    Alerts never count it."""

    @property
    def compliant(self) -> bool | None:
        """False if an objective with data is missed; None when nothing has data."""
        objectives = (self.availability_ok, self.rtt_ok, self.loss_ok, self.ttft_ok)
        checks = [c for c in objectives if c is not None]
        return all(checks) if checks else None


def window_name(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _windows(alerts: Sequence[BurnAlert]) -> list[int]:
    return sorted({w for a in alerts for w in (a.short_s, a.long_s)})


def _status(
    policy: SlaPolicy,
    region: str,
    cable: str,
    states: Mapping[int, MinuteState],
    now_s: float,
    rtt_p95_ms: float | None,
    loss_pct: float | None,
    alerts: Sequence[BurnAlert],
    ttft_p95_ms: float | None,
    ongoing: bool,
    since_s: float | None,
) -> SlaStatus:
    def states_of(window_s: int, live: bool, since: int = 0) -> list[MinuteState]:
        return [states.get(m, "nodata")
                for m in window_minutes(now_s, window_s, ongoing=live) if m >= since]  # fmt: skip

    began = 0 if since_s is None else int(since_s // 60 * 60)
    period = states_of(policy.period_days * 86400, ongoing, began)
    good = period.count("good")
    bad = period.count("bad")
    out = period.count("excluded")
    burns = {window_name(w): burn_rate(states_of(w, ongoing), policy) for w in _windows(alerts)}
    complete = {window_name(w): burn_rate(states_of(w, False), policy) for w in _windows(alerts)}
    firing = tuple(
        a.name
        for a in alerts
        if all(
            (b := complete[window_name(w)]) is not None and b > a.rate
            for w in (a.long_s, a.short_s)
        )
    )
    availability = 100.0 * good / (good + bad) if good + bad else None
    return SlaStatus(
        customer=policy.customer,
        region=region,
        cable=cable,
        good_minutes=good,
        bad_minutes=bad,
        nodata_minutes=len(period) - good - bad - out,
        excluded_minutes=out,
        availability_pct=availability,
        budget_minutes=policy.budget_minutes,
        budget_left_pct=100.0 * (1.0 - bad / policy.budget_minutes),
        burn_rates=burns,
        rtt_p95_ms=rtt_p95_ms,
        loss_pct=loss_pct,
        ttft_p95_ms=ttft_p95_ms,
        alerts=firing,
        availability_ok=None if availability is None else availability >= policy.availability_pct,
        rtt_ok=None if rtt_p95_ms is None else rtt_p95_ms <= policy.rtt_p95_ms,
        loss_ok=None if loss_pct is None else loss_pct <= policy.loss_pct,
        ttft_ok=(None if ttft_p95_ms is None or policy.ttft_p95_ms is None
                 else ttft_p95_ms <= policy.ttft_p95_ms),
        ongoing=states[int(now_s // 60 * 60)] if ongoing else None,
    )  # fmt: skip


def _known(
    starts: Iterable[int], maintenance: Sequence[MaintenanceWindow], period: range
) -> list[int]:
    """The minutes of ``period`` that may be other than no data: those with measurements and
    those in a maintenance window (the rest are no data; not computing them keeps a pass
    proportional to the data, not to the period)."""
    out = {s for s in starts if s in period}
    for w in maintenance:
        first = max(period.start, int(w.start_s // 60 * 60))
        out.update(range(first, min(period.stop, int(w.end_s)), 60))
    return sorted(out)


def window_loss_pct(
    minutes: Mapping[int, Minute], now_s: float, window_s: int, *, ongoing: bool = False
) -> float | None:
    """Round-trip loss over the window's minutes, by packets; None without packets."""
    sent = received = 0
    for start in window_minutes(now_s, window_s, ongoing=ongoing):
        m = minutes.get(start)
        if m is not None:
            sent += m.sent
            received += m.received
    return 100.0 * (sent - received) / sent if sent else None


def evaluate_path(
    policy: SlaPolicy,
    region: str,
    cable: str,
    minutes: Mapping[int, Minute],
    now_s: float,
    rtt_p95_ms: float | None,
    alerts: Sequence[BurnAlert] = BURN_ALERTS,
    maintenance: Sequence[MaintenanceWindow] = (),
    ttft_p95_ms: float | None = None,
    *,
    ongoing: bool = False,
    since_s: float | None = None,
) -> SlaStatus:
    """One path's SLA status at ``now_s``. ``rtt_p95_ms`` (``ttft_p95_ms``) is the p95 of the
    path's replies (times to first token) over the policy's objective window (computed where
    the points are: InfluxDB). ``ongoing``: count the minute in progress (``minutes`` holds
    it so far), as a live status does. ``since_s``: when monitoring began (the first measured
    minute, collectors.read.minutes.first_measured); the period's minutes before it are not
    counted (no-data minutes are probe gaps, not the time before the first probe)."""
    starts = _known(minutes.keys(), maintenance, _span(policy, now_s, ongoing))
    states = path_states(policy, region, cable, minutes, starts, maintenance,
                         now_s if ongoing else None)  # fmt: skip
    live = _live(states, now_s, ongoing)
    loss = window_loss_pct(minutes, now_s, policy.objective_window_s, ongoing=live)
    return _status(policy, region, cable, states, now_s, rtt_p95_ms, loss, alerts, ttft_p95_ms,
                   live, since_s)  # fmt: skip


def evaluate_region(
    policy: SlaPolicy,
    region: str,
    paths: Mapping[str, Mapping[int, Minute]],
    now_s: float,
    rtt_p95_ms: Mapping[str, float | None],
    alerts: Sequence[BurnAlert] = BURN_ALERTS,
    maintenance: Sequence[MaintenanceWindow] = (),
    ttft_p95_ms: Mapping[str, float | None] | None = None,
    *,
    ongoing: bool = False,
    since_s: float | None = None,
) -> SlaStatus:
    """The region as the customer feels it: each minute on its best cable (see the policy's
    definitions); RTT p95, loss and TTFT p95 are those of the best cable over the objective
    window. ``ongoing`` and ``since_s`` as for :func:`evaluate_path`."""
    span = _span(policy, now_s, ongoing)
    starts = _known((s for m in paths.values() for s in m), maintenance, span)
    states = region_states(policy, region, paths, starts, maintenance,
                           now_s if ongoing else None)  # fmt: skip
    live = _live(states, now_s, ongoing)
    losses = [
        loss
        for minutes in paths.values()
        if (loss := window_loss_pct(minutes, now_s, policy.objective_window_s, ongoing=live))
        is not None
    ]
    return _status(
        policy, region, ANY_CABLE, states, now_s, _best(rtt_p95_ms),
        min(losses) if losses else None, alerts, _best(ttft_p95_ms or {}), live, since_s,
    )  # fmt: skip


def _span(policy: SlaPolicy, now_s: float, ongoing: bool) -> range:
    """The minutes a status may count: the period's complete minutes, and with ``ongoing``
    the minute in progress too."""
    period = window_minutes(now_s, policy.period_days * 86400)
    return range(period.start, period.stop + 60, 60) if ongoing else period


def _live(states: Mapping[int, MinuteState], now_s: float, ongoing: bool) -> bool:
    """Whether the minute in progress counts: asked for, and judged on a round at least (in
    its first seconds it has none; it does not push a complete minute out of the windows
    for a minute of no data)."""
    return ongoing and states.get(int(now_s // 60 * 60), "nodata") != "nodata"


def _best(per_cable: Mapping[str, float | None]) -> float | None:
    """The lowest of the cables' figures; None when no cable has one."""
    return min((v for v in per_cable.values() if v is not None), default=None)
