"""``cablewatch serve``: the evaluator, the gateway API and the webhooks in one process.

One asyncio loop runs the evaluator's loops (detection, SLA, recommendations), the HTTP API
(uvicorn) and one webhook worker per URL. SIGTERM / SIGINT stop all three: the API stops
accepting, the evaluator finishes its pass and flushes, queued webhooks get a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from cablewatch.config import Config
from cablewatch.credentials import read_secret
from cablewatch.errors import CablewatchError
from cablewatch.evaluator.process import running
from cablewatch.evaluator.view import EvaluatorView
from cablewatch.failover.engine import Recommendation
from cablewatch.gateway.api import create_app
from cablewatch.gateway.settings import ApiSettings
from cablewatch.gateway.source import EvaluatorSource
from cablewatch.gateway.webhooks import WebhookSender

__all__ = ["api_settings", "read_tokens", "serve"]

log = logging.getLogger("cablewatch.gateway")


def read_tokens(api: ApiSettings) -> list[str]:
    raw = read_secret("gateway API", api.tokens_env, "api.tokens_env", api.tokens_file,
                      "api.tokens_file") or ""  # fmt: skip
    if api.tokens_env:
        tokens = [t.strip() for t in raw.split(",")]
    else:
        tokens = [ln.strip() for ln in raw.splitlines() if not ln.strip().startswith("#")]
    tokens = [t for t in tokens if t]
    if not tokens:
        where = api.tokens_env or api.tokens_file
        raise CablewatchError(f"gateway API: no bearer tokens in {where}")
    return tokens


def api_settings(config: Config) -> ApiSettings:
    """``[api]``, which ``serve`` needs; a one-line error without it."""
    if config.api is None:
        raise CablewatchError(f"{config.source}: no [api] section: nothing to serve "
                              "(see cablewatch evaluate)")  # fmt: skip
    return config.api


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the evaluator's stop event rules."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    config: Config, listen: tuple[str, int] | None, *, delivery_log: Path | None = None
) -> None:
    api = api_settings(config)
    tokens = read_tokens(api)
    hooks = WebhookSender(config.webhooks, log_file=delivery_log)
    async with running(config, listen) as (evaluator, stop):
        source = EvaluatorSource(EvaluatorView(evaluator))

        def publish(rec: Recommendation) -> None:
            body = {"version": source.version, "recommendation": source.recommendation(rec.region)}
            hooks.publish(source.version, body)

        evaluator.on_recommendation.append(publish)
        app = create_app(source, tokens)
        settings = uvicorn.Config(app, host=api.listen_host, port=api.listen_port,
                                log_level="warning", access_log=False, lifespan="off")  # fmt: skip
        server = _Server(settings)
        hooks.start()
        log.info("gateway API on http://%s:%d (OpenAPI: /openapi.json); %d webhooks",
                 api.listen_host, api.listen_port, len(config.webhooks))  # fmt: skip
        api_task = asyncio.create_task(server.serve(), name="api")
        try:
            await evaluator.run(stop)
        finally:
            server.should_exit = True
            await api_task
            await hooks.drain(5.0)
            await hooks.close()
