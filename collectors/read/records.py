"""Records of what the evaluator stored, as the read side returns them (no I/O here, so that
pure code such as reports/figures.py may take them)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StoredEvent", "Switch"]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the evaluator stored it (measurement ``event``)."""

    id: str
    scope: str
    subject: str
    cable: str
    start_s: float
    end_s: float | None
    regions: tuple[str, ...]
    severity: str = ""
    customers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Switch:
    """A recommendation as stored (measurement ``recommendation``)."""

    region: str
    cable: str
    previous: str | None
    at_s: float
    kind: str
    reason: str
