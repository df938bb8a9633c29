"""The gateway API (FastAPI; its OpenAPI schema is served at /openapi.json): read-only, every
route a GET, built from three routers by who may call them (gateway/routes.py), with the
bearer tokens, their scopes and the signed status links in gateway/auth.py and the models in
gateway/models.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from fastapi import FastAPI

from cablewatch import __version__
from cablewatch.gateway.auth import OPERATOR, Auth, StatusLinks, Tokens
from cablewatch.gateway.models import ApiSource
from cablewatch.gateway.routes import customer_routes, open_routes, operator_routes

__all__ = ["OPERATOR", "ApiSource", "StatusLinks", "Tokens", "create_app", "openapi_document"]


def create_app(
    source: ApiSource,
    tokens: Mapping[str, str] | Tokens,
    *,
    timezone: str = "UTC",
    links: StatusLinks | None = None,
) -> FastAPI:
    """``tokens``: each bearer token and its scope (OPERATOR or a customer); ``links``: what
    signs the status pages' links (none: only tokens open them)."""
    auth = Auth(tokens if isinstance(tokens, Tokens) else Tokens(tokens),
                links or StatusLinks(None), lambda: source.customers())  # fmt: skip
    app = FastAPI(
        title="cablewatch gateway API",
        version=__version__,
        description="Route-failover recommendations per region, cable status and path "
        "statistics, for the API gateway. Read-only; bearer tokens.",
    )
    app.include_router(operator_routes(source, auth))
    app.include_router(customer_routes(source, auth, timezone))
    app.include_router(open_routes(source))
    return app


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI schema, as served at /openapi.json (it does not depend on data)."""
    app = create_app(cast(ApiSource, object()), {"schema-only": OPERATOR})
    return app.openapi()
