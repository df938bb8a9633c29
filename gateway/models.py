"""What the gateway API answers (its OpenAPI schema's models) and what it reads from
(``ApiSource``: the evaluator's state, in memory)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field

from cablewatch.reports.period import Period
from cablewatch.reports.render import Format

__all__ = [
    "ApiSource",
    "CableList",
    "CableScore",
    "CableStatus",
    "Health",
    "OpenEvent",
    "PathList",
    "Recommendation",
    "RecommendationList",
    "ServiceRoute",
    "ShiftAccepted",
    "StatusLink",
]


class CableScore(BaseModel):
    cable: str
    state: Literal["good", "bad", "unknown"]
    score_ms: float | None = Field(description="Lower is better; null: no usable data")
    clean: bool = Field(description="Not bad, and losing at most clean_loss_pct")
    components: dict[str, float] = Field(default_factory=dict)
    rounds: int
    p50_ms: float | None
    p95_ms: float | None
    loss_pct: float | None
    jitter_ms: float | None
    floor_ms: float
    stretch: float | None


class Recommendation(BaseModel):
    region: str
    cable: str | None = Field(description="The cable to use; null until there is data")
    previous: str | None
    since: str | None = Field(description="When this recommendation was made (RFC 3339)")
    kind: Literal["initial", "fault", "speed", "none"]
    reason: str
    version: int
    scores: list[CableScore]


class RecommendationList(BaseModel):
    version: int
    generated_at: str
    recommendations: list[Recommendation]


class OpenEvent(BaseModel):
    id: str
    scope: str
    subject: str
    started: str
    raised: str | None
    regions: list[str]


class CableStatus(BaseModel):
    cable: str
    status: Literal["ok", "degraded", "down", "unknown"]
    bad_regions: list[str]
    unknown_regions: list[str]
    events: list[OpenEvent]


class CableList(BaseModel):
    cables: list[CableStatus]


class ServiceRoute(BaseModel):
    cable: str = Field(
        description="The cable the service route takes, by its traced hops "
        "('unknown': none or several matched)"
    )
    hops: list[str] = Field(description="Hop addresses in order ('*': silent)")
    rtt_ms: float | None
    traced: str | None = Field(description="When the trace was taken (ISO 8601, UTC)")


class PathList(BaseModel):
    region: str
    window_rounds: int
    paths: list[CableScore]
    route: ServiceRoute | None = Field(
        None,
        description="The region's service route (the path customers take) as last "
        "confirmed by its traces; null: not traced yet",
    )


class ShiftAccepted(BaseModel):
    region: str
    cable: str
    summary: str = Field(
        description='The shift as resolved, e.g. "jakarta/SJC: +3.1 ms since '
        '04:31 UTC, no route change seen; accepted as the new normal by the NOC"'
    )


class Health(BaseModel):
    status: Literal["ok", "starting", "stale"]
    version: str
    last_poll: str | None


class ApiSource(Protocol):
    """What the API reads: the evaluator's state, in memory."""

    @property
    def version(self) -> int: ...

    def regions(self) -> Sequence[str]: ...

    def recommendation(self, region: str) -> dict[str, Any]: ...

    def accept_shift(self, region: str, cable: str) -> str | None:
        """A NOC's word: the path's open baseline shift is its new normal (what was resolved;
        None: none open; KeyError: no such path)."""
        ...

    def cables(self) -> list[dict[str, Any]]: ...

    def paths(self, region: str, window_rounds: int | None) -> dict[str, Any]: ...

    def health(self) -> dict[str, Any]: ...

    def now_iso(self) -> str: ...

    def revision(self) -> object:
        """Changes whenever what the API would answer may have changed (every poll)."""
        ...

    def customers(self) -> Sequence[str]: ...

    def status_page(self, customer: str) -> str: ...

    async def report(self, customer: str, period: Period, fmt: Format) -> bytes: ...

    @property
    def registry(self) -> CollectorRegistry: ...


class StatusLink(BaseModel):
    path: str = Field(description="The status page's path with its signed query string")
    expires: str = Field(description="When the link stops working (RFC 3339)")
