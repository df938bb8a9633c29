"""The gateway API (FastAPI; its OpenAPI schema is served at /openapi.json).

Read-only: every route is a GET. Every /v1 route needs ``Authorization: Bearer <token>``; the
token is compared in constant time with each configured one (401 otherwise, with
``WWW-Authenticate: Bearer``). ``/healthz`` and ``/metrics`` are open, as for any exporter.

Token scopes: an operator's token reads everything; a customer's token reads only
``/v1/customers/<its customer>/...`` (403 for anything else, whether or not the customer
exists). The status page, which people open in a browser, also takes the token as the
``access_token`` query parameter (RFC 6750, section 2.3) and is served ``no-store``.

Cheap polling: /v1/recommendations and /v1/recommendations/{region} carry an ``ETag`` (the
recommendations' version, which grows on every change) and answer ``If-None-Match`` with 304.
Cheap answers: the data changes once per evaluator poll, so each body is rendered (and
validated against its model) once per ``revision`` of the source, and then served as bytes.
"""

from __future__ import annotations

import datetime as dt
import hmac
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Protocol, cast

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field

from cablewatch import __version__
from cablewatch.errors import CablewatchError, SinkError
from cablewatch.reports.period import Period, month, span
from cablewatch.reports.render import Format, media_type

__all__ = ["OPERATOR", "ApiSource", "Tokens", "create_app", "openapi_document"]

OPERATOR = "operator"
"""The scope of a token that reads everything; any other scope is one customer's name."""


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

    def customers(self) -> Sequence[str]: ...

    def status_page(self, customer: str) -> str: ...

    async def report(self, customer: str, period: Period, fmt: Format) -> bytes: ...

    @property
    def registry(self) -> CollectorRegistry: ...


class Tokens:
    """The bearer tokens the API takes, each with its scope (OPERATOR or a customer);
    ``replace`` swaps them at once (a reload), for requests that arrive after it."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self.entries: list[tuple[bytes, str]] = []
        self.replace(tokens)

    def replace(self, tokens: Mapping[str, str]) -> None:
        if not tokens or any(not t for t in tokens):
            raise ValueError("the API needs at least one non-empty bearer token")
        self.entries = [(t.encode(), scope) for t, scope in tokens.items()]


def create_app(
    source: ApiSource, tokens: Mapping[str, str] | Tokens, *, timezone: str = "UTC"
) -> FastAPI:
    """``tokens``: each bearer token and its scope (OPERATOR or a customer)."""
    table = tokens if isinstance(tokens, Tokens) else Tokens(tokens)
    app = FastAPI(
        title="cablewatch gateway API",
        version=__version__,
        description="Route-failover recommendations per region, cable status and path "
        "statistics, for the API gateway. Read-only; bearer tokens.",
    )
    bearer = HTTPBearer(auto_error=False)

    def scope_of(given: bytes) -> str:
        found = ""
        for token, scope in table.entries:  # every comparison runs: no early exit to time
            if hmac.compare_digest(given, token):
                found = scope
        if not given or not found:
            raise HTTPException(401, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        return found

    def presented(creds: HTTPAuthorizationCredentials | None) -> bytes:
        if creds is None or creds.scheme.lower() != "bearer":
            return b""
        return creds.credentials.encode()

    # a default, not Annotated: annotations are strings here and `bearer` is a local
    def bearer_scope(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:  # noqa: B008
        return scope_of(presented(creds))

    def authorized(scope: str = Depends(bearer_scope)) -> None:
        if scope != OPERATOR:
            raise HTTPException(403, "this token reads only its customer's routes "
                                "(/v1/customers/...)")  # fmt: skip

    def for_customer(customer: str, scope: str) -> str:
        if scope not in (OPERATOR, customer):
            raise HTTPException(403, "this token does not read this customer")
        if customer not in source.customers():
            raise HTTPException(404, f"unknown customer {customer!r}")
        return customer

    def customer_scope(
        customer: Annotated[str, Path(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")],
        scope: str = Depends(bearer_scope),
    ) -> str:
        return for_customer(customer, scope)

    def browser_scope(
        customer: Annotated[str, Path(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")],
        access_token: Annotated[
            str | None, Query(description="The bearer token, for a browser (RFC 6750 2.3)")
        ] = None,
        creds: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> str:
        """The Authorization header's token, else ``access_token``."""
        given = presented(creds) or (access_token or "").encode()
        return for_customer(customer, scope_of(given))

    auth = [Depends(authorized)]
    errors: dict[int | str, dict[str, Any]] = {
        401: {"description": "No or wrong token"},
        403: {"description": "A customer's token"},
    }
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

    scoped: dict[int | str, dict[str, Any]] = {401: {"description": "No or wrong token"},
              403: {"description": "Another customer's token"},
              404: {"description": "Unknown customer"}}  # fmt: skip

    @app.get("/v1/customers/{customer}/status", response_class=HTMLResponse,
             responses=scoped)  # fmt: skip
    def customer_status(customer: str = Depends(browser_scope)) -> HTMLResponse:
        """The customer's live status page (HTML; refreshes itself every 30 s)."""
        return HTMLResponse(source.status_page(customer),
                            headers={"Cache-Control": "no-store",
                                     "Referrer-Policy": "no-referrer"})  # fmt: skip

    kinds = ("application/pdf", "text/html", "application/json")
    report_responses: dict[int | str, dict[str, Any]] = {
        **scoped,
        400: {"description": "Bad period"},
        503: {"description": "InfluxDB unavailable"},
        200: {"content": {m: {} for m in kinds}},
    }

    @app.get("/v1/customers/{customer}/report", response_class=Response,
             responses=report_responses)  # fmt: skip
    async def customer_report(
        period: Annotated[
            str | None, Query(pattern=r"^\d{4}-\d{2}$", description="A month, e.g. 2026-11")
        ] = None,
        start: Annotated[str | None, Query(alias="from", description="ISO 8601")] = None,
        end: Annotated[str | None, Query(alias="to", description="ISO 8601, excluded")] = None,
        fmt: Annotated[Literal["pdf", "html", "json"], Query(alias="format")] = "pdf",
        customer: str = Depends(customer_scope),
    ) -> Response:
        """The customer's SLA report for a month (default: this month so far) or a span."""
        try:
            if start is not None or end is not None:
                if period is not None or start is None or end is None:
                    raise CablewatchError("give period, or both from and to")
                chosen = span(start, end, timezone)
            else:
                chosen = month(period or _this_month(source, timezone), timezone)
        except CablewatchError as exc:
            raise HTTPException(400, str(exc)) from exc
        try:
            body = await source.report(customer, chosen, fmt)
        except SinkError as exc:
            raise HTTPException(503, str(exc)) from exc
        name = f"{customer}-{chosen.label if period or start is None else 'span'}.{fmt}"
        return Response(body, media_type=media_type(fmt),
                        headers={"Content-Disposition": f'inline; filename="{name}"',
                                 "Cache-Control": "no-store"})  # fmt: skip

    @app.get("/healthz", response_model=Health)
    def healthz() -> Any:
        return source.health()

    @app.get("/metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {}}}})  # fmt: skip
    def metrics() -> Response:
        return Response(generate_latest(source.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _this_month(source: ApiSource, timezone: str) -> str:
    now = dt.datetime.fromisoformat(source.now_iso().replace("Z", "+00:00"))
    return now.astimezone(zoneinfo.ZoneInfo(timezone)).strftime("%Y-%m")


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI schema, as served at /openapi.json (it does not depend on data)."""
    app = create_app(cast(ApiSource, object()), {"schema-only": OPERATOR})
    return app.openapi()
