"""The evaluator as a process: its clients (InfluxDB, Alertmanager), its metrics endpoint,
SIGTERM / SIGINT, SIGHUP (reload); and the commands built on it (``evaluate``, ``sla status``;
``serve`` adds the gateway, gateway/server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable

from cablewatch.aio import first_of, signal_event, stop_on_signals
from cablewatch.alerting.alertmanager import AlertmanagerClient
from cablewatch.collectors.influx import InfluxQL, writer_for
from cablewatch.config import Config
from cablewatch.config.reload import reread
from cablewatch.evaluator.explain import Explanation
from cablewatch.evaluator.explain import explain as explain_region
from cablewatch.evaluator.metrics import EvaluatorMetrics
from cablewatch.evaluator.service import Evaluator
from cablewatch.sla.evaluate import SlaStatus

__all__ = ["Prepare", "explain", "reloads", "running", "serve", "sla_status"]

log = logging.getLogger("cablewatch.evaluator")

_NEEDS_INFLUX = "the evaluator reads the agents' results from it"

Prepare = Callable[[Config], Callable[[], str]]
"""Readies what a process adds to a reload (may raise CablewatchError: the reload is refused);
returns what commits it, which says what it took."""


def _nothing(_config: Config) -> Callable[[], str]:
    return lambda: ""


async def reloads(evaluator: Evaluator, stop: asyncio.Event, prepare: Prepare = _nothing) -> None:
    """Each SIGHUP until ``stop``: re-read the configuration file and take what the evaluator
    takes of it (config/reload.py), plus what ``prepare`` readies; a file that does not load, or
    that ``prepare`` refuses, changes nothing (one log line)."""
    hup = signal_event(signal.SIGHUP)
    while await first_of(stop, hup) is hup:
        hup.clear()
        got = reread(evaluator.config, "evaluator", log, prepare)
        if got is None:
            continue
        change, commit = got
        evaluator.reconfigure(change.config)
        extra = commit()
        log.warning("reloaded %s: %d SLA policies%s; changed: %s", change.config.source,
                    len(change.config.slas), f", {extra}" if extra else "",
                    ", ".join(change.taken) or "nothing")  # fmt: skip


@contextlib.asynccontextmanager
async def running(
    config: Config, listen: tuple[str, int] | None
) -> AsyncIterator[tuple[Evaluator, asyncio.Event]]:
    """An evaluator wired to the configuration's InfluxDB and Alertmanager, its metrics served
    on ``listen``, and an event that SIGTERM / SIGINT set; closes its clients on exit."""
    sink = config.influx(_NEEDS_INFLUX)
    ql = InfluxQL(sink)
    writer = writer_for(sink)
    ams = [AlertmanagerClient(url) for url in config.alerting.alertmanager_urls]
    metrics = EvaluatorMetrics()
    if listen is not None:
        metrics.serve(*listen)
        log.info("metrics on http://%s:%d/metrics", *listen)
    if not ams:
        log.info("no [alerting] alertmanager_url(s): events are stored, not posted")
    stop = stop_on_signals()
    try:
        yield Evaluator(config, ql, writer=writer, alertmanagers=ams, metrics=metrics), stop
    finally:
        await ql.close()
        await writer.close()
        for am in ams:
            await am.close()


async def serve(config: Config, listen: tuple[str, int] | None) -> None:
    """``cablewatch evaluate``: until SIGTERM / SIGINT."""
    async with running(config, listen) as (evaluator, stop):
        reloading = asyncio.create_task(reloads(evaluator, stop), name="reload")
        try:
            await evaluator.run(stop)
        finally:
            stop.set()
            await reloading


async def explain(config: Config, region: str) -> Explanation | None:
    """``cablewatch explain``: ``region``'s last recommendation, checked against InfluxDB."""
    ql = InfluxQL(config.influx(_NEEDS_INFLUX))
    try:
        return await explain_region(ql, region)
    finally:
        await ql.close()


async def sla_status(config: Config) -> list[SlaStatus]:
    """``cablewatch sla status``: every policy's status now, read-only."""
    ql = InfluxQL(config.influx(_NEEDS_INFLUX))
    try:
        return await Evaluator(config, ql).evaluate_sla(write=False)
    finally:
        await ql.close()
