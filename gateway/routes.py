"""The gateway API's routes, in three routers by who may call them (gateway/auth.py):

- ``operator_routes``: recommendations, cables, paths, and accepting a baseline shift (an
  operator's token);
- ``customer_routes``: a customer's status page, a signed link to it, and its SLA report (that
  customer's token or an operator's; the page also takes a signed link);
- ``open_routes``: /healthz and /metrics, open as for any exporter.

Cheap polling: /v1/recommendations and /v1/recommendations/{region} carry an ``ETag`` (the
recommendations' version, which grows on every change) and answer ``If-None-Match`` with 304.
Cheap answers: the data changes once per evaluator poll, so each body is rendered (and
validated against its model) once per ``revision`` of the source, and then served as bytes.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from cablewatch.errors import CablewatchError, SinkError
from cablewatch.gateway.auth import Auth
from cablewatch.gateway.models import (
    ApiSource,
    CableList,
    Health,
    PathList,
    Recommendation,
    RecommendationList,
    ShiftAccepted,
    StatusLink,
)
from cablewatch.reports.period import month, span
from cablewatch.reports.render import media_type
from cablewatch.timefmt import utc_iso

__all__ = ["customer_routes", "open_routes", "operator_routes"]

_REGION = r"^[a-z0-9]+(-[a-z0-9]+)*$"
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or wrong token"},
    403: {"description": "A customer's token"},
}
_SCOPED: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or wrong token"},
    403: {"description": "Another customer's token"},
    404: {"description": "Unknown customer"},
}


class _Rendered:
    """Bodies rendered once per revision of the source."""

    def __init__(self, source: ApiSource) -> None:
        self.source = source
        self.cache: dict[str, bytes] = {}
        self.revision: object = None

    def __call__(self, key: str, model: type[BaseModel], build: Any,
                 headers: dict[str, str]) -> Response:  # fmt: skip
        revision = self.source.revision()
        if self.revision != revision:
            self.cache.clear()
            self.revision = revision
        if key not in self.cache:
            self.cache[key] = model.model_validate(build()).model_dump_json().encode()
        return Response(self.cache[key], media_type="application/json", headers=headers)


def operator_routes(source: ApiSource, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[Depends(auth.operator)], responses=_ERRORS)
    unknown: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown region"}}
    rendered = _Rendered(source)

    def known(region: str) -> str:
        if region not in source.regions():
            raise HTTPException(404, f"unknown region {region!r}")
        return region

    def etag(request: Request, response: Response) -> bool:
        """Set the ETag; True if the client already has this version (answer 304)."""
        tag = f'"v{source.version}"'
        response.headers["ETag"] = tag
        response.headers["Cache-Control"] = "no-cache"
        return request.headers.get("if-none-match") == tag

    @router.get("/recommendations", response_model=RecommendationList,
                responses={304: {"description": "Not modified"}})  # fmt: skip
    def recommendations(request: Request, response: Response) -> Any:
        if etag(request, response):
            return Response(status_code=304, headers=dict(response.headers))
        return rendered("*", RecommendationList, lambda: {
            "version": source.version,
            "generated_at": source.now_iso(),
            "recommendations": [source.recommendation(r) for r in source.regions()],
        }, dict(response.headers))  # fmt: skip

    @router.get("/recommendations/{region}", response_model=Recommendation,
                responses=unknown | {304: {"description": "Not modified"}})  # fmt: skip
    def recommendation(
        region: Annotated[str, Path(pattern=_REGION)], request: Request, response: Response
    ) -> Any:
        known(region)
        if etag(request, response):
            return Response(status_code=304, headers=dict(response.headers))
        return rendered(f"r:{region}", Recommendation, lambda: source.recommendation(region),
                        dict(response.headers))  # fmt: skip

    @router.get("/cables", response_model=CableList)
    def cables() -> Any:
        return rendered("cables", CableList, lambda: {"cables": source.cables()}, {})

    @router.get("/paths/{region}", response_model=PathList, responses=unknown)
    def paths(
        region: Annotated[str, Path(pattern=_REGION)],
        window_rounds: Annotated[
            int | None, Query(ge=1, le=1000, description="Rounds per path (default: config)")
        ] = None,
    ) -> Any:
        known(region)
        return source.paths(region, window_rounds)

    accept_errors: dict[int | str, dict[str, Any]] = {
        404: {"description": "Unknown region or cable"},
        409: {"description": "No open baseline shift on the path"},
    }

    @router.post("/shifts/{region}/{cable}/accept", response_model=ShiftAccepted,
                 responses=accept_errors)  # fmt: skip
    async def accept_shift(region: Annotated[str, Path(pattern=_REGION)],
                           cable: Annotated[str, Path(max_length=64)]) -> Any:  # fmt: skip
        """A NOC accepts the path's baseline shift as its new normal: the shift event resolves
        ("accepted") and the path's baseline is its level from now on. Runs on the
        evaluator's event loop (async), between its passes."""
        known(region)
        try:
            text = source.accept_shift(region, cable)
        except KeyError:
            raise HTTPException(404, f"{region!r} has no path over {cable!r}") from None
        if text is None:
            raise HTTPException(409, f"no open baseline shift on {region}/{cable}")
        return {"region": region, "cable": cable, "summary": text}

    return router


def customer_routes(source: ApiSource, auth: Auth, timezone: str) -> APIRouter:
    router = APIRouter(prefix="/v1/customers/{customer}", responses=_SCOPED)

    @router.get("/status", response_class=HTMLResponse)
    def customer_status(customer: str = Depends(auth.page)) -> HTMLResponse:
        """The customer's live status page (HTML; refreshes itself every 30 s). A browser
        opens it with a signed link (``status-link``); a program with its token."""
        return HTMLResponse(source.status_page(customer),
                            headers={"Cache-Control": "no-store",
                                     "Referrer-Policy": "no-referrer"})  # fmt: skip

    @router.get("/status-link", response_model=StatusLink,
                responses={409: {"description": "Status links are off"}})  # fmt: skip
    def status_link(
        ttl_s: Annotated[
            int, Query(ge=60, description="Seconds (the configured maximum wins)")
        ] = 3600,
        customer: str = Depends(auth.customer),
    ) -> Any:
        """A link to the status page for a browser, valid ``ttl_s`` (no token in it)."""
        try:
            query, expires = auth.links.mint(customer, ttl_s)
        except CablewatchError as exc:
            raise HTTPException(409, str(exc)) from exc
        return {"path": f"/v1/customers/{customer}/status?{query}", "expires": utc_iso(expires)}

    kinds = ("application/pdf", "text/html", "application/json")
    report_responses: dict[int | str, dict[str, Any]] = {
        400: {"description": "Bad period"},
        503: {"description": "InfluxDB unavailable"},
        200: {"content": {m: {} for m in kinds}},
    }

    @router.get("/report", response_class=Response, responses=report_responses)
    async def customer_report(
        period: Annotated[
            str | None, Query(pattern=r"^\d{4}-\d{2}$", description="A month, e.g. 2026-11")
        ] = None,
        start: Annotated[str | None, Query(alias="from", description="ISO 8601")] = None,
        end: Annotated[str | None, Query(alias="to", description="ISO 8601, excluded")] = None,
        fmt: Annotated[Literal["pdf", "html", "json"], Query(alias="format")] = "pdf",
        customer: str = Depends(auth.customer),
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

    return router


def open_routes(source: ApiSource) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", response_model=Health)
    def healthz() -> Any:
        return source.health()

    @router.get("/metrics", response_class=Response,
                responses={200: {"content": {"text/plain": {}}}})  # fmt: skip
    def metrics() -> Response:
        return Response(generate_latest(source.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def _this_month(source: ApiSource, timezone: str) -> str:
    now = dt.datetime.fromisoformat(source.now_iso().replace("Z", "+00:00"))
    return now.astimezone(zoneinfo.ZoneInfo(timezone)).strftime("%Y-%m")
