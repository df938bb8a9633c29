"""Fault events: findings that last, raised once and resolved once (pure; time passed in).

- A ``cable`` or ``station`` finding is raised at once: most regions agree.
- A ``segment``, ``partial``, ``region``, ``path`` or ``probe`` finding is *pending* until it
  has lasted ``settle_s``: the first regions to see a cable cut look like a smaller fault
  until the others see it, and a pending event absorbed into a cable event is dropped, never
  raised.
- A raised event keeps its member paths while any of them is not good again (a path with no
  state keeps it open: no evidence of repair), takes in new paths of the same finding, and
  resolves when every member path is good (each one after ``leave_rounds`` good rounds).
  While it is open, its paths are claimed: a recovering cable's last bad region does not
  become a path event of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from cablewatch.correlation.classify import Finding, PathKey, Scope

__all__ = ["Event", "EventTracker", "Transition"]

_IMMEDIATE: frozenset[Scope] = frozenset({"cable", "station"})


@dataclass
class Event:
    scope: Scope
    subject: str
    cable: str
    region: str
    first_seen_s: float
    paths: set[PathKey] = field(default_factory=set)
    """Member paths not good again yet."""
    seen_paths: set[PathKey] = field(default_factory=set)
    """Every path that was ever a member."""
    raised_s: float | None = None
    resolved_s: float | None = None
    healthy: tuple[str, ...] = ()
    """Cable-wide scopes: the regions fine on the cable, as last seen."""
    landing_point: str = ""
    severity: str = ""
    """Set when raised, from the customers' impact (alerting/impact.py); kept for life."""
    customers: tuple[str, ...] = ()
    """Set when raised: the customers with an affected path; kept for life (the alert's
    identity in Alertmanager)."""
    note: str = ""
    """Route changes: what moved (their summary)."""

    @property
    def key(self) -> tuple[Scope, str]:
        return (self.scope, self.subject)

    @property
    def id(self) -> str:
        """Stable for the event's life: scope, subject and when it was first seen (ms)."""
        return f"{self.scope}:{self.subject}:{int(self.first_seen_s * 1000)}"


@dataclass(frozen=True, slots=True)
class Transition:
    kind: Literal["raised", "resolved"]
    event: Event


class EventTracker:
    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self.open: dict[tuple[Scope, str], Event] = {}
        """Raised and not yet resolved."""
        self.pending: dict[tuple[Scope, str], Event] = {}

    def update(
        self, findings: list[Finding], status: Mapping[PathKey, str], now_s: float
    ) -> list[Transition]:
        """Take this evaluation's findings and every path's status ('good', 'bad',
        'unknown'); return what was raised and resolved."""
        out: list[Transition] = []
        found = {(f.scope, f.subject) for f in findings}
        for event in list(self.open.values()):
            if event.scope == "probe":  # lasts while its region has no data at all
                over = event.key not in found
            else:
                event.paths = {p for p in event.paths if status.get(p, "unknown") != "good"}
                over = not event.paths
            if over:
                event.resolved_s = now_s
                del self.open[event.key]
                out.append(Transition("resolved", event))
        claimed = {p for e in self.open.values() for p in e.paths}
        seen: set[tuple[Scope, str]] = set()
        for finding in findings:
            key = (finding.scope, finding.subject)
            if key in self.open:
                self.open[key].paths.update(finding.paths)
                self.open[key].seen_paths.update(finding.paths)
                self.open[key].healthy = finding.healthy
                continue
            fresh = set(finding.paths) - claimed
            if finding.paths and not fresh:
                continue  # explained by an open event
            seen.add(key)
            event = self.pending.get(key) or Event(
                finding.scope, finding.subject, finding.cable, finding.region, now_s
            )
            event.paths = set(finding.paths)
            event.seen_paths = set(finding.paths)
            event.healthy, event.landing_point = finding.healthy, finding.landing_point
            self.pending[key] = event
            if finding.scope in _IMMEDIATE or now_s - event.first_seen_s >= self.settle_s:
                event.raised_s = now_s
                del self.pending[key]
                self.open[key] = event
                claimed |= event.paths
                out.append(Transition("raised", event))
        for key in list(self.pending):
            event = self.pending[key]
            if key not in seen or event.paths & claimed:
                del self.pending[key]  # gone, or absorbed into a raised event
        return out
