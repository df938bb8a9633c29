"""Signed webhooks: every recommendation change is POSTed to each configured gateway URL.

Signature (as Stripe's): ``X-Cablewatch-Timestamp: <unix seconds>`` and
``X-Cablewatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``. A receiver
recomputes it over the raw body, compares in constant time (``verify``), and rejects old
timestamps to stop replays. Deliveries are retried with exponential backoff (1, 2, 4, ... s) up
to ``max_attempts``; every attempt is logged, kept in memory (``deliveries``) and, when a log
file is given, appended to it as JSON lines. Deliveries to one URL are in order: a newer change
waits for the older one.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from cablewatch.credentials import read_secret
from cablewatch.errors import CablewatchError
from cablewatch.gateway.settings import WebhookSettings

__all__ = ["Delivery", "WebhookSender", "sign", "verify"]

log = logging.getLogger("cablewatch.webhooks")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now_s: float,
           tolerance_s: float = 300.0) -> bool:  # fmt: skip
    """What a receiving gateway does: the signature matches and the timestamp is fresh."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now_s - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


@dataclass(frozen=True, slots=True)
class Delivery:
    url: str
    version: int
    attempt: int
    status: int | None
    error: str
    at_unix_s: float
    duration_ms: float
    delivered: bool


class WebhookSender:
    def __init__(self, hooks: tuple[WebhookSettings, ...], *, log_file: Path | None = None,
                 backoff_s: float = 1.0, timeout_s: float = 5.0) -> None:  # fmt: skip
        self.hooks = hooks
        self.secrets = _secrets(hooks)
        self.log_file = log_file
        self.backoff_s = backoff_s
        self.deliveries: collections.deque[Delivery] = collections.deque(maxlen=1000)
        self._queues: dict[str, asyncio.Queue[tuple[int, bytes]]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._client = httpx.AsyncClient(timeout=timeout_s)

    def start(self) -> None:
        for h in self.hooks:
            self._start(h.url)

    def _start(self, url: str) -> None:
        self._queues[url] = asyncio.Queue()
        self._tasks[url] = asyncio.create_task(self._worker(url), name=f"webhook {url}")

    def reconfigure(self, hooks: tuple[WebhookSettings, ...]) -> None:
        """Deliver to ``hooks`` from now on (a reload). Their secrets are read first: one
        that cannot be read raises, and nothing changes. A URL kept keeps its queue; a URL
        dropped loses what was queued for it (logged)."""
        secrets = _secrets(hooks)
        urls = {h.url for h in hooks}
        for url in [u for u in self._queues if u not in urls]:
            queued = self._queues.pop(url).qsize()
            self._tasks.pop(url).cancel()
            if queued:
                log.warning("webhook %s removed: %d queued deliveries dropped", url, queued)
        self.hooks, self.secrets = hooks, secrets
        for h in hooks:
            if h.url not in self._queues:
                self._start(h.url)

    def publish(self, version: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, sort_keys=True).encode()
        for q in self._queues.values():
            q.put_nowait((version, body))

    async def drain(self, timeout_s: float) -> None:
        """Until every queued delivery is done (or ``timeout_s``)."""
        waits = [asyncio.create_task(q.join()) for q in self._queues.values()]
        if waits:
            await asyncio.wait(waits, timeout=timeout_s)
        for w in waits:
            w.cancel()

    async def close(self) -> None:
        for t in self._tasks.values():
            t.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self._client.aclose()

    async def _worker(self, url: str) -> None:
        queue = self._queues[url]
        while True:
            version, body = await queue.get()
            hook = next(h for h in self.hooks if h.url == url)  # as of the last reload
            try:
                await self._deliver(hook, version, body)
            finally:
                queue.task_done()

    async def _deliver(self, hook: WebhookSettings, version: int, body: bytes) -> None:
        for attempt in range(1, hook.max_attempts + 1):
            ts = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "cablewatch-webhooks",
                "X-Cablewatch-Timestamp": str(ts),
                "X-Cablewatch-Signature": sign(self.secrets[hook.url], ts, body),
                "X-Cablewatch-Version": str(version),
            }
            t0 = time.monotonic()
            status: int | None = None
            error = ""
            try:
                response = await self._client.post(hook.url, content=body, headers=headers)
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                error = str(exc) or type(exc).__name__
            ok = not error
            self._record(Delivery(hook.url, version, attempt, status, error, time.time(),
                                  (time.monotonic() - t0) * 1000, ok))  # fmt: skip
            if ok:
                return
            if attempt == hook.max_attempts:
                log.error("webhook %s: version %d not delivered after %d attempts: %s",
                          hook.url, version, attempt, error)  # fmt: skip
                return
            wait_s = self.backoff_s * 2 ** (attempt - 1)
            log.warning("webhook %s: version %d attempt %d failed (%s); retrying in %.0f s",
                        hook.url, version, attempt, error, wait_s)  # fmt: skip
            await asyncio.sleep(wait_s)

    def _record(self, d: Delivery) -> None:
        self.deliveries.append(d)
        if self.log_file is not None:
            try:
                with self.log_file.open("a") as f:
                    f.write(json.dumps(asdict(d)) + "\n")
            except OSError as exc:
                msg = f"webhook delivery log {self.log_file}: {exc.strerror}"
                raise CablewatchError(msg) from exc


def _secrets(hooks: tuple[WebhookSettings, ...]) -> dict[str, str]:
    return {
        h.url: read_secret(f"webhook {h.url}", h.secret_env, "webhooks.secret_env",
                           h.secret_file, "webhooks.secret_file") or ""
        for h in hooks
    }  # fmt: skip
