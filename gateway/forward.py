"""A standby ``serve`` answers the API with the holder's answers ([bus]: several ``serve``
instances of one landing station; evaluator/outbox.py). Only the instance holding the
station's lease decides and writes; another one's API forwards each request to the holder
(its URL is in the lease) and returns the answer as given, so every replica answers the same,
and the recommendation versions a gateway sees only grow, whichever it asks. As Vault's
standby nodes forward to the active one. Its own health and metrics it answers itself.

No holder known, or the holder not answering (a takeover under way): 503 with Retry-After, the
gateway's cue to ask another replica or again shortly. A request already forwarded once is
never forwarded again (two instances that each think the other holds the lease, for the
moment a hand-over takes, answer 503 rather than pass it back and forth)."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from cablewatch.bus.tenure import Tenure
from cablewatch.gateway.settings import ApiSettings

__all__ = ["FORWARDED", "SERVED_BY", "advertised_url", "forward_to_holder"]

FORWARDED = "X-Cablewatch-Forwarded"
SERVED_BY = "X-Cablewatch-Served-By"
"""On a forwarded answer: the instance (its --instance name) that made it."""
_LOCAL = ("/healthz", "/metrics", "/openapi.json", "/docs")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
        "content-encoding"}  # fmt: skip
_WILDCARD = ("", "0.0.0.0", "::")


def advertised_url(api: ApiSettings, tls: bool) -> str:
    """Where other instances reach this one's API: its listen address (a wildcard: this
    host's name)."""
    host = socket.getfqdn() if api.listen_host in _WILDCARD else api.listen_host
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{api.listen_port}"


def _unavailable(why: str) -> Response:
    return JSONResponse({"detail": f"standing by: {why}"}, status_code=503,
                        headers={"Retry-After": "1"})  # fmt: skip


def forward_to_holder(app: FastAPI, tenure: Tenure, client: httpx.AsyncClient) -> None:
    """Make ``app`` forward to the lease's holder while ``tenure`` does not hold it."""

    @app.middleware("http")
    async def forward(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if tenure.token() is not None or path in _LOCAL or path.startswith("/docs"):
            return await call_next(request)
        holder = tenure.holder()
        if request.headers.get(FORWARDED):
            return _unavailable("this instance does not hold the landing station either")
        if holder is None or not holder.url or holder.url == tenure.lease.value.url:
            return _unavailable("no instance holds the landing station yet")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        try:
            got = await client.request(request.method, holder.url + path,
                                       params=request.query_params,
                                       headers=headers | {FORWARDED: "1"},
                                       content=await request.body())  # fmt: skip
        except httpx.HTTPError as exc:
            return _unavailable(f"the holder, {holder.holder} at {holder.url}, does not answer "
                                f"({type(exc).__name__})")  # fmt: skip
        out = {k: v for k, v in got.headers.items() if k.lower() not in _HOP}
        return Response(got.content, status_code=got.status_code,
                        headers=out | {SERVED_BY: holder.holder})  # fmt: skip
