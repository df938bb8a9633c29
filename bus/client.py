"""A connection to the NATS cluster of ``[bus]``, and the stream and consumer cablewatch needs
on it, made if absent and checked if present.

The first connection tries every URL (twice each, a 2 s timeout) and fails with one line
naming them all; once connected, the client fails over between the cluster's nodes and
reconnects for ever, saying each change of state once. Credentials come from the environment
or a file (credentials.py), never from the configuration file, and are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from cablewatch.bus.settings import BusSettings
from cablewatch.credentials import credential_path, read_secret
from cablewatch.errors import BusError

__all__ = [
    "check_consumer",
    "connect",
    "credentials",
    "ensure_stream",
    "ingest_consumer",
    "stream_config",
]

log = logging.getLogger("cablewatch.bus")


def credentials(bus: BusSettings) -> dict[str, Any]:
    """nats.connect's credentials: a user and password, a token, or a credentials file."""
    what = f"[bus] {bus.servers}"
    if bus.creds_file:
        path = credential_path(bus.creds_file)
        if not path.is_file():
            raise BusError(bus.servers, "config", f"creds_file {path}: no such file")
        return {"user_credentials": str(path)}
    secret = read_secret(what, bus.secret_env, "password_env / token_env", bus.secret_file,
                         "password_file / token_file")  # fmt: skip
    if secret is None:
        return {}
    if bus.user:
        return {"user": bus.user, "password": secret}
    return {"token": secret}


def _tls(bus: BusSettings) -> dict[str, Any]:
    if not bus.tls_ca_file and not any(u.startswith("tls://") for u in bus.urls):
        return {}
    context = ssl.create_default_context(cafile=bus.tls_ca_file or None)
    return {"tls": context}


async def connect(bus: BusSettings, name: str) -> Client:
    """A client of the cluster named ``name`` (the server's connection list shows it); raises
    BusError naming every URL if none answers."""
    said: dict[str, bool] = {"up": False, "down": False}

    async def on_error(exc: Exception) -> None:
        log.debug("bus: %s", exc or type(exc).__name__)

    async def on_disconnect() -> None:
        # not while the first connection is tried, nor when we close it
        if said["up"] and not said["down"] and not nc.is_closed:
            log.warning("bus: lost the connection to %s; reconnecting (to any of %s)",
                        _where(nc), bus.servers)  # fmt: skip
            said["down"] = True

    async def on_reconnect() -> None:
        log.warning("bus: connected again, to %s", _where(nc))
        said["down"] = False

    nc = Client()
    try:
        await nc.connect(servers=list(bus.urls), name=name, connect_timeout=2,
                         reconnect_time_wait=1, max_reconnect_attempts=1,
                         error_cb=on_error, disconnected_cb=on_disconnect,
                         reconnected_cb=on_reconnect, **credentials(bus), **_tls(bus))  # fmt: skip
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        await nc.close()
        detail = "authorization refused" if "uthoriz" in str(exc) else "no server answered"
        raise BusError(bus.servers, "unreachable", detail) from exc
    nc.options["max_reconnect_attempts"] = -1  # once up: reconnect for ever
    said["up"] = True
    return nc


def _where(nc: Client) -> str:
    url = nc.connected_url
    return f"{url.hostname}:{url.port}" if url is not None else "the cluster"


def stream_config(bus: BusSettings) -> StreamConfig:
    return StreamConfig(
        name=bus.stream,
        description="cablewatch: the agents' spooled batches of rounds (line protocol)",
        subjects=[f"{bus.subject}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        num_replicas=bus.replicas,
        duplicate_window=bus.duplicate_window_s,
        max_age=bus.max_age_s,
    )


def ingest_consumer(bus: BusSettings) -> ConsumerConfig:
    return ConsumerConfig(
        name=bus.ingest_consumer,
        durable_name=bus.ingest_consumer,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=bus.ack_wait_s,
        max_ack_pending=20_000,
        filter_subject=f"{bus.subject}.>",
    )


@dataclass(frozen=True, slots=True)
class _Setting:
    name: str
    want: Any
    got: Any


def _differs(want: object, got: object, fields: tuple[str, ...]) -> list[_Setting]:
    out = []
    for f in fields:
        w, g = getattr(want, f), getattr(got, f)
        if isinstance(w, float) and isinstance(g, int | float):
            if abs(w - g) > 1e-6:
                out.append(_Setting(f, w, g))
        elif w != g:
            out.append(_Setting(f, w, g))
    return out


_STREAM_FIELDS = ("subjects", "retention", "storage", "num_replicas", "duplicate_window",
                  "max_age", "discard")  # fmt: skip
_CONSUMER_FIELDS = ("deliver_policy", "ack_policy", "ack_wait", "filter_subject")


def _say(kind: str, name: str, diffs: list[_Setting]) -> str:
    d = diffs[0]
    more = f" (and {', '.join(x.name for x in diffs[1:])})" if diffs[1:] else ""
    return (f"{kind} {name} exists with {d.name} = {_value(d.got)}, cablewatch needs "
            f"{_value(d.want)}{more}: change it (nats stream edit / consumer rm) or name "
            "another in [bus]")  # fmt: skip


def _value(v: Any) -> str:
    return str(v.value) if hasattr(v, "value") else repr(v)


async def ensure_stream(js: JetStreamContext, bus: BusSettings) -> None:
    """The stream, made if absent; BusError naming the first setting that differs if it was
    made otherwise (by hand, or by another version), or saying that the cluster did not
    answer (JetStream not ready yet: a cluster still electing its leaders)."""
    want = stream_config(bus)
    try:
        try:
            info = await js.stream_info(bus.stream)
        except nats.js.errors.NotFoundError:
            try:
                await js.add_stream(want)
                log.info("bus: made stream %s (%d replicas, subjects %s)", bus.stream,
                         bus.replicas, f"{bus.subject}.>")  # fmt: skip
                await _led(js, bus)
                return
            except nats.js.errors.BadRequestError as exc:  # made meanwhile by another process
                if "already in use" not in str(exc):
                    raise BusError(bus.servers, "config", f"stream {bus.stream}: {exc}") from exc
                info = await js.stream_info(bus.stream)
    except nats.errors.Error as exc:
        raise BusError(
            bus.servers, "unreachable", f"stream {bus.stream}: {exc or type(exc).__name__}"
        ) from exc
    diffs = _differs(want, info.config, _STREAM_FIELDS)
    if diffs:
        raise BusError(bus.servers, "config", _say("stream", bus.stream, diffs))


async def _led(js: JetStreamContext, bus: BusSettings, within_s: float = 10.0) -> None:
    """Until a stream just made has elected its leader (publishes before find no stream), or
    ``within_s``: what is left is the publishers' retrying."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        info = await js.stream_info(bus.stream)
        if info.cluster is None or info.cluster.leader:
            return
        await asyncio.sleep(0.05)


async def check_consumer(js: JetStreamContext, bus: BusSettings) -> None:
    """The shared ingest consumer, made if absent; BusError naming the first setting that
    differs if it exists otherwise."""
    want = ingest_consumer(bus)
    try:
        try:
            info = await js.consumer_info(bus.stream, bus.ingest_consumer)
        except nats.js.errors.NotFoundError:
            await js.add_consumer(bus.stream, want)
            return
    except nats.errors.Error as exc:
        raise BusError(bus.servers, "unreachable", f"consumer {bus.ingest_consumer}: "
                       f"{exc or type(exc).__name__}") from exc  # fmt: skip
    diffs = _differs(want, info.config, _CONSUMER_FIELDS)
    if diffs:
        raise BusError(bus.servers, "config", _say("consumer", bus.ingest_consumer, diffs))
