"""Past one process a probe host: a region's targets split into N shards, one agent process
each (its own spool, exporter and scheduler), and the parent that keeps them running.

A target's shard is a hash of its cable and address, modulo N: it depends on nothing else, so
a target keeps its shard when others are added or removed (changing N moves about all of
them). Every protocol of a target, and the service path's, stay together in one shard.

``cablewatch agent --shards N`` runs shard k of N as a child ``cablewatch agent --shard k/N``
(spool ``REGION.shard-k-of-N.db``, metrics on the given port + k - 1) and restarts a child
that exits, after a backoff that grows while it keeps failing (1 s to 30 s); the others and
their spools are untouched. SIGTERM / SIGINT stop every child (each drains as an agent does)
and then the parent; SIGHUP is passed on (each child re-reads the configuration).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from cablewatch.aio import first_of, signal_event, stop_on_signals, wait_event
from cablewatch.probes.spec import ProbeJob

__all__ = ["Shard", "child_argv", "run", "shard_jobs", "shard_of", "shard_spool", "supervise"]

log = logging.getLogger("cablewatch.agent")
Shard = tuple[int, int]
"""(k, n): shard k of n, k from 1."""
_BACKOFF_S = (1.0, 30.0)
_HEALTHY_S = 60.0
"""A child that ran this long before exiting starts again after the shortest backoff."""


def shard_of(job: ProbeJob, n: int) -> int:
    """The shard (1..n) of ``job``'s target: by its cable (or the service path) and address."""
    key = f"{job.labels.get('cable') or 'service'}|{job.address}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % n + 1


def shard_jobs(jobs: Sequence[ProbeJob], shard: Shard | None) -> list[ProbeJob]:
    """The jobs of ``shard``'s targets (all of them without a shard)."""
    if shard is None:
        return list(jobs)
    k, n = shard
    return [j for j in jobs if shard_of(j, n) == k]


def shard_spool(spool: Path, shard: Shard | None) -> Path:
    """A shard's own spool beside the region's: REGION.shard-k-of-n.db."""
    if shard is None:
        return spool
    k, n = shard
    return spool.with_name(f"{spool.stem}.shard-{k}-of-{n}{spool.suffix}")


async def supervise(argv: Sequence[Sequence[str]], stop: asyncio.Event,
                    hup: asyncio.Event) -> None:  # fmt: skip
    """Run one child per command line in ``argv`` until ``stop``; restart any that exits."""
    children: dict[int, asyncio.subprocess.Process] = {}

    async def keep(i: int) -> None:
        backoff = _BACKOFF_S[0]
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            proc = await asyncio.create_subprocess_exec(*argv[i])
            children[i] = proc
            log.info("shard %d of %d: pid %d", i + 1, len(argv), proc.pid)
            waiting = asyncio.ensure_future(proc.wait())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if stop.is_set():  # each child drains its spool's sending as an agent does
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                await waiting
                return
            code = waiting.result()
            if loop.time() - started >= _HEALTHY_S:
                backoff = _BACKOFF_S[0]
            log.warning("shard %d of %d (pid %d) exited with %s; restarting in %g s", i + 1,
                        len(argv), proc.pid, code, backoff)  # fmt: skip
            await wait_event(stop, backoff)
            backoff = min(backoff * 2, _BACKOFF_S[1])

    async def relay() -> None:
        while await first_of(stop, hup) is hup:
            hup.clear()
            for proc in children.values():
                if proc.returncode is None:
                    proc.send_signal(signal.SIGHUP)

    await asyncio.gather(*(keep(i) for i in range(len(argv))), relay())


async def run(argv: Sequence[Sequence[str]]) -> None:
    """The parent of ``cablewatch agent --shards N``: until SIGTERM / SIGINT."""
    await supervise(argv, stop_on_signals(), signal_event(signal.SIGHUP))


def child_argv(base: Sequence[str], shard: Shard, listen: tuple[str, int] | None) -> list[str]:
    """The command line of one shard's agent: this interpreter, ``base`` (the agent's options
    but --shards and --listen), its shard and its metrics port (the given one + k - 1)."""
    k, n = shard
    argv = [sys.executable, "-m", "cablewatch", "agent", *base, "--shard", f"{k}/{n}"]
    if listen is not None:
        argv += ["--listen", f"{listen[0]}:{listen[1] + k - 1}"]
    return argv
