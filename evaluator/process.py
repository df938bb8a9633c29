"""The evaluator as a process: its clients (InfluxDB, Alertmanager), its metrics endpoint,
SIGTERM / SIGINT, SIGHUP (reload); and the commands built on it (``evaluate``, ``sla status``;
``serve`` adds the gateway, gateway/server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable

from nats.aio.client import Client

from cablewatch.aio import first_of, signal_event, stop_on_signals
from cablewatch.alerting.alertmanager import AlertmanagerClient
from cablewatch.bus.client import connect, ensure_stream
from cablewatch.bus.settings import BusSettings
from cablewatch.collectors.influx import InfluxQL, writer_for
from cablewatch.config import Config
from cablewatch.config.reload import reread
from cablewatch.evaluator.explain import Explanation
from cablewatch.evaluator.explain import explain as explain_region
from cablewatch.evaluator.metrics import EvaluatorMetrics
from cablewatch.evaluator.service import Evaluator
from cablewatch.evaluator.source_bus import BusRounds
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
    evaluator = Evaluator(config, ql, writer=writer, alertmanagers=ams, metrics=metrics)
    nc = None
    try:
        if config.bus is not None:  # rounds pushed by the bus, not read from InfluxDB
            nc, evaluator.source = await bus_source(config, config.bus, evaluator)
        yield evaluator, stop
    finally:
        if nc is not None:
            await nc.close()
        await ql.close()
        await writer.close()
        for am in ams:
            await am.close()


async def bus_source(
    config: Config, bus: BusSettings, evaluator: Evaluator
) -> tuple[Client, BusRounds]:
    """The landing station's rounds from the bus (evaluator/source_bus.py); the client to close."""
    nc = await connect(bus, "cablewatch-evaluate")
    try:
        js = nc.jetstream()
        await ensure_stream(js, bus)
    except BaseException:
        await nc.close()
        raise
    d = evaluator.detection
    source = BusRounds(js, bus, config.topology.landing_station.id, d.detectors,
                       lookback_s=d.stale_s, due_s=d.due_s(config.evaluator.poll_s))  # fmt: skip
    log.info("rounds from the bus: %s, stream %s", bus.servers, bus.stream)
    return nc, source


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
