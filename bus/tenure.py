"""Holding a lease for as long as a process runs (bus/lease.py): claim it while someone else
holds it or nobody does, renew it every quarter of its TTL while held. What the process may
write rests on :meth:`Tenure.token`: the tenure's fencing token while the lease is safely
held, None otherwise (a standby, or a holder whose renewals went unanswered)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.errors

from cablewatch.aio import wait_event
from cablewatch.bus.lease import Lease, LeaseValue, NotOurs

__all__ = ["Tenure"]

log = logging.getLogger("cablewatch.lease")


class Tenure:
    def __init__(self, lease: Lease, what: str) -> None:
        self.lease = lease
        self.what = what
        """What the lease stands for, for the log ("landing station shantou")."""
        self.ready = asyncio.Event()
        """Set when this process can do the holder's work (an evaluator: warmed up); until
        then it only looks who holds the lease. (Claimed before, the lease lapsed during an
        evaluator's warm-up of 9,000 paths, whose parsing held the event loop past 3/4 of a
        3 s TTL: the instances took it from each other three times in 20 s.)"""
        self._said_standby = False
        self._refused = False

    def token(self) -> int | None:
        """The fencing token while the lease is safely ours; None otherwise."""
        return self.lease.token if self.lease.held() else None

    def holder(self) -> LeaseValue | None:
        """Who holds the lease, as last seen: this process while it does; None: unknown."""
        return self.lease.value if self.lease.held() else self.lease.seen

    async def step(self) -> None:
        """One claim (not held) or renewal (held); before ``ready``, a look at the holder."""
        lease = self.lease
        if not self.ready.is_set():
            with contextlib.suppress(NotOurs, nats.errors.Error, TimeoutError):
                await lease.look()
            return
        if lease.token is not None:
            if not await lease.renew():
                self._said_standby = False
            return
        try:
            took = await lease.claim()
        except NotOurs as exc:
            if not self._refused:  # once, not at every try
                log.error("lease bucket key %s holds %s, not a cablewatch lease: refused "
                          "(someone else writes to the bucket?)", lease.key, exc)  # fmt: skip
                self._refused = True
            return
        self._refused = False
        if took:
            log.warning("took %s (lease %s, token %d)", self.what, lease.key, lease.token)
            self._said_standby = False
        elif not self._said_standby:
            log.warning("standing by for %s: another instance holds lease %s", self.what,
                        lease.key)  # fmt: skip
            self._said_standby = True

    async def run(self, stop: asyncio.Event) -> None:
        """Claim or renew every quarter of the TTL until ``stop``; then give the lease up."""
        try:
            while not stop.is_set():
                await self.step()
                if not self.ready.is_set():  # ready, or the next look
                    await wait_event(self.ready, self.lease.ttl_s / 4)
                    continue
                await wait_event(stop, self.lease.ttl_s / 4)
        finally:
            await self.lease.release()
