"""Leases in a JetStream key-value bucket: who holds a partition, with a fencing token.

NATS 2.9 has no per-key TTL: a lease's expiry is its bucket's ``max_age`` (``ttl_s``), so
there is one bucket per lease TTL, and renewal is an update at the revision held (history 1: a
key is one message, gone ``ttl_s`` after its last write). Taking a lease is ``create`` (refused
while the key exists); renewing is ``update(last=revision)`` (refused once someone else took
it); giving it up is a delete at the revision held.

The **token** is the revision at which this tenure began: revisions are the bucket's stream
sequence, so a later tenure's token is always larger. Everything the holder writes carries it.

Safety does not rest on the token alone: :meth:`Lease.held` turns false ``SAFETY`` of the TTL
after the last renewal whose request was *sent* (not answered), measured on this process's
monotonic clock, so it stops writing before the server can let anyone else take the key. A
process paused (SIGSTOP, a stalled VM) past the TTL finds, on waking, that its clock moved on:
``held()`` is false before it writes anything, and its next renewal is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from cablewatch.errors import BusError

__all__ = ["SAFETY", "Lease", "LeaseValue", "NotOurs", "lease_bucket"]

log = logging.getLogger("cablewatch.lease")

SAFETY = 0.75
"""A lease is held for this share of its TTL after the last renewal sent."""


class NotOurs(Exception):
    """The key holds a value cablewatch did not write (someone else uses the bucket)."""


@dataclass(frozen=True, slots=True)
class LeaseValue:
    holder: str
    host: str
    pid: int
    url: str = ""
    """Where the holder answers for what it holds (a ``serve`` instance's API; "" none)."""

    def encode(self) -> bytes:
        return json.dumps({"cablewatch_lease": 1, "holder": self.holder, "host": self.host,
                           "pid": self.pid, "url": self.url}).encode()  # fmt: skip

    @classmethod
    def decode(cls, data: bytes | None) -> LeaseValue:
        try:
            v = json.loads(data or b"")
            if v.get("cablewatch_lease") != 1:
                raise ValueError
            return cls(str(v["holder"]), str(v["host"]), int(v["pid"]), str(v.get("url", "")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise NotOurs(repr((data or b"")[:60])) from exc


class Lease:
    def __init__(self, kv: KeyValue, key: str, holder: str, ttl_s: float, url: str = "") -> None:
        self.kv = kv
        self.key = key
        self.ttl_s = ttl_s
        self.value = LeaseValue(holder, socket.gethostname(), os.getpid(), url)
        self.seen: LeaseValue | None = None
        """Who held it at the last claim refused (None: nobody seen)."""
        self.token: int | None = None
        """The revision this tenure began at (None: not held)."""
        self._revision = 0
        self._sent = -float("inf")

    def held(self) -> bool:
        """Ours, and safely so: within SAFETY of the TTL since the last renewal sent."""
        return self.token is not None and time.monotonic() - self._sent < SAFETY * self.ttl_s

    async def claim(self) -> bool:
        """Take the lease if nobody holds it. Raises NotOurs if the key holds a value that is
        not a cablewatch lease."""
        sent = time.monotonic()
        try:
            revision = await self.kv.create(self.key, self.value.encode())
        except nats.js.errors.KeyWrongLastSequenceError:
            await self.look()
            return False
        except (nats.errors.Error, TimeoutError):
            return False
        self.token = self._revision = revision
        self._sent = sent
        return True

    async def renew(self) -> bool:
        """Renew at the revision held; False (and no longer held) if someone else took it, or
        if it lapsed here (an answer after the safe time is not trusted). A renewal that gets
        no answer changes nothing: ``held()`` lapses by itself."""
        if self.token is None:
            return False
        if not self.held():
            self._lose("lapsed before its renewal (this process was paused or starved?)")
            return False
        sent = time.monotonic()
        try:
            self._revision = await self.kv.update(self.key, self.value.encode(),
                                                  last=self._revision)  # fmt: skip
        except nats.js.errors.KeyWrongLastSequenceError:
            self._lose("taken by another holder")
            return False
        except (nats.errors.Error, TimeoutError):
            return self.held()
        self._sent = sent
        return True

    async def release(self) -> None:
        """Give the lease up at once (a graceful stop): the next holder need not wait out the
        TTL."""
        if self.token is None:
            return
        token, self.token = self.token, None
        with contextlib.suppress(nats.errors.Error, TimeoutError):  # else it expires by itself
            await self.kv.delete(self.key, last=self._revision)
        log.info("lease %s released (token %d)", self.key, token)

    def _lose(self, why: str) -> None:
        log.warning("lease %s lost (token %s): %s", self.key, self.token, why)
        self.token = None

    async def look(self) -> None:
        """Who holds the key now, into ``seen``. Raises NotOurs for a foreign value."""
        try:
            entry = await self.kv.get(self.key)
        except nats.js.errors.KeyNotFoundError:
            self.seen = None
            return  # expired meanwhile: the next claim takes it
        except (nats.errors.Error, TimeoutError):
            return
        self.seen = LeaseValue.decode(entry.value)


async def lease_bucket(js: JetStreamContext, name: str, ttl_s: float, replicas: int,
                       servers: str) -> KeyValue:  # fmt: skip
    """The bucket ``name`` whose keys live ``ttl_s`` (made if absent); BusError naming the
    setting if it exists with another TTL, history or replica count."""
    try:
        try:
            info = await js.stream_info(f"KV_{name}")
        except nats.js.errors.NotFoundError:
            return await js.create_key_value(bucket=name, ttl=ttl_s, history=1,
                                             replicas=replicas)  # fmt: skip
        c = info.config
        for setting, want, got in (("ttl", ttl_s, c.max_age),
                                   ("history", 1, c.max_msgs_per_subject),
                                   ("replicas", replicas, c.num_replicas)):  # fmt: skip
            if got is None or abs(float(got) - want) > 1e-6:
                raise BusError(servers, "config", f"lease bucket {name} exists with {setting} "
                               f"= {got}, cablewatch needs {want}: delete it (nats kv rm) or "
                               "change [bus]")  # fmt: skip
        return await js.key_value(name)
    except nats.errors.Error as exc:
        raise BusError(
            servers, "unreachable", f"lease bucket {name}: {exc or type(exc).__name__}"
        ) from exc
