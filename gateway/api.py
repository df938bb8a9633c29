"""The gateway API (FastAPI; its OpenAPI schema is served at /openapi.json).

Read-only: every route is a GET. Every /v1 route needs ``Authorization: Bearer <token>``; the
token is compared in constant time with each configured one (401 otherwise, with
``WWW-Authenticate: Bearer``). ``/healthz`` and ``/metrics`` are open, as for any exporter.

Cheap polling: /v1/recommendations and /v1/recommendations/{region} carry an ``ETag`` (the
recommendations' version, which grows on every change) and answer ``If-None-Match`` with 304.
Cheap answers: the data changes once per evaluator poll, so each body is rendered (and
validated against its model) once per ``revision`` of the source, and then served as bytes.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Protocol, cast

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field

from cablewatch import __version__

__all__ = ["ApiSource", "create_app", "openapi_document"]


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


class PathList(BaseModel):
    region: str
    window_rounds: int
    paths: list[CableScore]


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

    def cables(self) -> list[dict[str, Any]]: ...

    def paths(self, region: str, window_rounds: int | None) -> dict[str, Any]: ...

    def health(self) -> dict[str, Any]: ...

    def now_iso(self) -> str: ...

    def revision(self) -> object:
        """Changes whenever what the API would answer may have changed (every poll)."""
        ...

    @property
    def registry(self) -> CollectorRegistry: ...


def create_app(source: ApiSource, tokens: Sequence[str]) -> FastAPI:
    if not tokens or any(not t for t in tokens):
        raise ValueError("the API needs at least one non-empty bearer token")
    app = FastAPI(
        title="cablewatch gateway API",
        version=__version__,
        description="Route-failover recommendations per region, cable status and path "
        "statistics, for the API gateway. Read-only; bearer tokens.",
    )
    bearer = HTTPBearer(auto_error=False)
    wanted = [t.encode() for t in tokens]

    # a default, not Annotated: annotations are strings here and `bearer` is a local
    def authorized(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        given = creds.credentials.encode() if creds is not None else b""
        ok = False
        for token in wanted:  # every comparison runs: no early exit to time
            ok |= hmac.compare_digest(given, token)
        if creds is None or creds.scheme.lower() != "bearer" or not ok:
            raise HTTPException(401, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    auth = [Depends(authorized)]
    errors: dict[int | str, dict[str, Any]] = {401: {"description": "No or wrong token"}}
    unknown = errors | {404: {"description": "Unknown region"}}

    def known(region: str) -> str:
        if region not in source.regions():
            raise HTTPException(404, f"unknown region {region!r}")
        return region

    cache: dict[str, bytes] = {}
    cached_revision: list[object] = [None]

    def rendered(key: str, model: type[BaseModel], build: Any, headers: dict[str, str]) -> Any:
        revision = source.revision()
        if cached_revision[0] != revision:
            cache.clear()
            cached_revision[0] = revision
        if key not in cache:
            cache[key] = model.model_validate(build()).model_dump_json().encode()
        return Response(cache[key], media_type="application/json", headers=headers)

    def etag(request: Request, response: Response) -> bool:
        """Set the ETag; True if the client already has this version (answer 304)."""
        tag = f'"v{source.version}"'
        response.headers["ETag"] = tag
        response.headers["Cache-Control"] = "no-cache"
        return request.headers.get("if-none-match") == tag

    @app.get("/v1/recommendations", response_model=RecommendationList, dependencies=auth,
             responses=errors | {304: {"description": "Not modified"}})  # fmt: skip
    def recommendations(request: Request, response: Response) -> Any:
        if etag(request, response):
            return Response(status_code=304, headers=dict(response.headers))
        return rendered("*", RecommendationList, lambda: {
            "version": source.version,
            "generated_at": source.now_iso(),
            "recommendations": [source.recommendation(r) for r in source.regions()],
        }, dict(response.headers))  # fmt: skip

    @app.get("/v1/recommendations/{region}", response_model=Recommendation, dependencies=auth,
             responses=unknown | {304: {"description": "Not modified"}})  # fmt: skip
    def recommendation(
        region: Annotated[str, Path(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")],
        request: Request,
        response: Response,
    ) -> Any:
        known(region)
        if etag(request, response):
            return Response(status_code=304, headers=dict(response.headers))
        return rendered(f"r:{region}", Recommendation, lambda: source.recommendation(region),
                        dict(response.headers))  # fmt: skip

    @app.get("/v1/cables", response_model=CableList, dependencies=auth, responses=errors)
    def cables() -> Any:
        return rendered("cables", CableList, lambda: {"cables": source.cables()}, {})

    @app.get("/v1/paths/{region}", response_model=PathList, dependencies=auth,
             responses=unknown)  # fmt: skip
    def paths(
        region: Annotated[str, Path(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")],
        window_rounds: Annotated[
            int | None, Query(ge=1, le=1000, description="Rounds per path (default: config)")
        ] = None,
    ) -> Any:
        known(region)
        return source.paths(region, window_rounds)

    @app.get("/healthz", response_model=Health)
    def healthz() -> Any:
        return source.health()

    @app.get("/metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {}}}})  # fmt: skip
    def metrics() -> Response:
        return Response(generate_latest(source.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI schema, as served at /openapi.json (it does not depend on data)."""
    app = create_app(cast(ApiSource, object()), ["schema-only"])
    return app.openapi()
