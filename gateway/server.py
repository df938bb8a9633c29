"""``cablewatch serve``: the evaluator, the gateway API and the webhooks in one process.

One asyncio loop runs the evaluator's loops (detection, SLA, recommendations), the HTTP API
(uvicorn) and one webhook worker per URL. SIGTERM / SIGINT stop all three: the API stops
accepting, the evaluator finishes its pass and flushes, queued webhooks get a few seconds.
SIGHUP re-reads the configuration file: SLA policies, maintenance windows, reports, webhooks
and the API's tokens (their file too) change in place, with open events, alert state and
recommendations kept; a file that does not load, or whose tokens or webhook secrets cannot
be read, is refused with one log line and the running configuration kept
(config/reload.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from cablewatch.aio import wait_event
from cablewatch.config import Config
from cablewatch.credentials import read_secret
from cablewatch.errors import CablewatchError
from cablewatch.evaluator.process import Prepare, reloads, running
from cablewatch.evaluator.service import Evaluator
from cablewatch.evaluator.view import EvaluatorView
from cablewatch.failover.engine import Recommendation
from cablewatch.gateway.api import OPERATOR, StatusLinks, Tokens, create_app
from cablewatch.gateway.forward import advertised_url, forward_to_holder
from cablewatch.gateway.settings import ApiSettings
from cablewatch.gateway.source import EvaluatorSource
from cablewatch.gateway.webhooks import WebhookSender
from cablewatch.reports.archive import close_periods

__all__ = ["api_settings", "read_link_key", "read_tokens", "serve", "status_links", "tls_arguments"]

log = logging.getLogger("cablewatch.gateway")


def read_tokens(api: ApiSettings) -> dict[str, str]:
    """Each bearer token and its scope: ``name:token`` entries take their name's scope from
    ``[api.scopes]``; an unnamed token is an operator's."""
    raw = read_secret("gateway API", api.tokens_env, "api.tokens_env", api.tokens_file,
                      "api.tokens_file") or ""  # fmt: skip
    where = api.tokens_env or api.tokens_file
    if api.tokens_env:
        entries = [t.strip() for t in raw.split(",")]
    else:
        entries = [ln.strip() for ln in raw.splitlines() if not ln.strip().startswith("#")]
    scopes = dict(api.scopes)
    tokens: dict[str, str] = {}
    for n, entry in enumerate(e for e in entries if e):
        name, sep, token = entry.partition(":")
        if not sep:
            tokens[entry] = OPERATOR
        elif name not in scopes:
            raise CablewatchError(f"gateway API: token {n + 1} in {where} is named {name!r}, "
                                  "which [api.scopes] does not list")  # fmt: skip
        elif not token:
            raise CablewatchError(f"gateway API: token {name!r} in {where} is empty")
        else:
            tokens[token] = scopes[name]
    if not tokens:
        raise CablewatchError(f"gateway API: no bearer tokens in {where}")
    return tokens


def tls_arguments(api: ApiSettings) -> tuple[str, str] | None:
    """(certificate, key) for uvicorn, None for plain HTTP; a one-line error when the files
    cannot be read, are not PEM, or do not belong together."""
    if not api.tls_cert_file:
        return None
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(api.tls_cert_file, api.tls_key_file)
    except (OSError, ssl.SSLError) as exc:
        raise CablewatchError(
            f"gateway API: cannot use api.tls_cert_file {api.tls_cert_file} with "
            f"api.tls_key_file {api.tls_key_file}: {exc}"
        ) from exc
    return api.tls_cert_file, api.tls_key_file


def api_settings(config: Config) -> ApiSettings:
    """``[api]``, which ``serve`` needs; a one-line error without it."""
    if config.api is None:
        raise CablewatchError(f"{config.source}: no [api] section: nothing to serve "
                              "(see cablewatch evaluate)")  # fmt: skip
    return config.api


async def _archive(
    evaluator: Evaluator, stop: asyncio.Event, announce: Callable[[dict[str, Any]], None]
) -> None:
    """Each closed month's reports, checked every minute (``[report] dir``, as reloaded); on
    the bus, by the instance holding the landing station only (one announcement a report)."""
    while not stop.is_set():
        config = evaluator.config
        standby = evaluator.tenure is not None and evaluator.tenure.token() is None
        try:
            if config.report.dir and not standby:
                await close_periods(config, evaluator.ql, evaluator.clock(), announce)
        except (CablewatchError, OSError) as exc:
            log.warning("closed-period reports: %s; retrying in a minute", exc)
        await wait_event(stop, 60.0)


def read_link_key(api: ApiSettings) -> bytes | None:
    """The key that signs status-page links (``[api] status_link_key_file``); None: off."""
    if not api.status_link_key_file:
        return None
    key = read_secret("gateway API", "", "", api.status_link_key_file,
                      "api.status_link_key_file") or ""  # fmt: skip
    if len(key) < 16:
        raise CablewatchError(f"gateway API: the status link key in {api.status_link_key_file} "
                              "is shorter than 16 characters")  # fmt: skip
    return key.encode()


def status_links(api: ApiSettings) -> StatusLinks:
    return StatusLinks(read_link_key(api), api.status_link_ttl_s)


def _prepare_reload(tokens: Tokens, links: StatusLinks, hooks: WebhookSender) -> Prepare:
    """What ``serve`` adds to the evaluator's reload: the API's tokens and link key (re-read
    from their files or variable) and the webhooks (secrets read before anything changes)."""

    def prepare(config: Config) -> Callable[[], str]:
        api = api_settings(config)
        new_tokens = read_tokens(api)
        new_key = read_link_key(api)
        hooks.reconfigure(config.webhooks)

        def commit() -> str:
            tokens.replace(new_tokens)
            links.replace(new_key, api.status_link_ttl_s)
            return f"{len(config.webhooks)} webhooks, {len(new_tokens)} API tokens"

        return commit

    return prepare


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the evaluator's stop event rules."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    config: Config,
    listen: tuple[str, int] | None,
    *,
    delivery_log: Path | None = None,
    instance: str = "",
) -> None:
    api = api_settings(config)
    tokens = Tokens(read_tokens(api))
    links = status_links(api)
    hooks = WebhookSender(config.webhooks, log_file=delivery_log)
    tls = tls_arguments(api)
    own_url = advertised_url(api, tls is not None)
    forwarding = httpx.AsyncClient(timeout=10.0)
    async with running(config, listen, instance, own_url) as (evaluator, stop):
        source = EvaluatorSource(EvaluatorView(evaluator))

        def publish(rec: Recommendation, version: int) -> None:
            """After the pass's flush: the version is the change's, not the latest."""
            current = source.recommendation(rec.region) | {"version": version}
            hooks.publish(version, {"version": version, "recommendation": current})

        evaluator.on_recommendation.append(publish)

        def announce(body: dict[str, object]) -> None:
            hooks.publish(source.version, body)

        app = create_app(source, tokens, timezone=config.report.timezone, links=links)
        if evaluator.tenure is not None:  # a standby answers with the holder's answers
            forward_to_holder(app, evaluator.tenure, forwarding)
        # uvicorn logs through this process's logging (log_config=None); its access log, when
        # on, names method, path and status: tokens travel in headers, never in a path
        settings = uvicorn.Config(app, host=api.listen_host, port=api.listen_port,
                                log_level="warning", access_log=api.access_log,
                                log_config=None, lifespan="off",
                                ssl_certfile=tls[0] if tls else None,
                                ssl_keyfile=tls[1] if tls else None)  # fmt: skip
        if api.access_log:
            logging.getLogger("uvicorn.access").setLevel(logging.INFO)
        server = _Server(settings)
        hooks.start()
        log.info("gateway API on %s://%s:%d (OpenAPI: /openapi.json); %d webhooks",
                 "https" if tls else "http", api.listen_host, api.listen_port,
                 len(config.webhooks))  # fmt: skip
        api_task = asyncio.create_task(server.serve(), name="api")
        archive = asyncio.create_task(_archive(evaluator, stop, announce), name="reports")
        prepare = _prepare_reload(tokens, links, hooks)
        reloading = asyncio.create_task(reloads(evaluator, stop, prepare), name="reload")
        try:
            await evaluator.run(stop)
        finally:
            stop.set()  # also when the evaluator failed: the other loops end with it
            server.should_exit = True
            await reloading
            await archive
            await api_task
            await hooks.drain(5.0)
            await hooks.close()
            await forwarding.aclose()
