"""The evaluator as a process: its clients (InfluxDB, Alertmanager), its metrics endpoint,
SIGTERM / SIGINT, SIGHUP (reload); and the commands built on it (``evaluate``, ``sla status``;
``serve`` adds the gateway, gateway/server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator, Callable

from nats.aio.client import Client

from cablewatch.aio import first_of, signal_event, stop_on_signals
from cablewatch.alerting.alertmanager import AlertmanagerClient
from cablewatch.bus.client import connect, ensure_stream
from cablewatch.bus.lease import Lease, lease_bucket
from cablewatch.bus.settings import BusSettings
from cablewatch.bus.tenure import Tenure
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
    config: Config, listen: tuple[str, int] | None, instance: str = "", api_url: str = ""
) -> AsyncIterator[tuple[Evaluator, asyncio.Event]]:
    """An evaluator wired to the configuration's InfluxDB and Alertmanager, its metrics served
    on ``listen``, and an event that SIGTERM / SIGINT set; closes its clients on exit. With
    ``[bus]``: its rounds from the bus, and it writes only while it holds the landing
    station's lease (``instance``: its name there, default the host's; ``api_url``: where
    its API answers, told to the other instances in the lease)."""
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
    nc, holding, done = None, None, asyncio.Event()
    try:
        if config.bus is not None:  # rounds pushed by the bus, not read from InfluxDB
            name = instance or socket.gethostname()
            nc, evaluator.source = await bus_source(config, config.bus, evaluator, name)
            tenure = await station_tenure(nc, config, config.bus, name, api_url)
            evaluator.outbox.fence = tenure.token
            evaluator.tenure = tenure
            holding = asyncio.create_task(tenure.run(done), name="lease")
        yield evaluator, stop
    finally:
        done.set()  # the lease is given up after the evaluator's last flush
        if holding is not None:
            await holding
        if nc is not None:
            await nc.close()
        await ql.close()
        await writer.close()
        for am in ams:
            await am.close()


async def station_tenure(
    nc: Client, config: Config, bus: BusSettings, name: str, url: str = ""
) -> Tenure:
    """The landing station's lease, as ``name`` (answering at ``url``) would hold it
    (bus/tenure.py)."""
    station = config.topology.landing_station.id
    kv = await lease_bucket(nc.jetstream(), bus.lease_bucket, bus.lease_ttl_s, bus.replicas,
                            bus.servers)  # fmt: skip
    lease = Lease(kv, f"station.{station}", name, bus.lease_ttl_s, url)
    return Tenure(lease, f"landing station {station}")


async def bus_source(
    config: Config, bus: BusSettings, evaluator: Evaluator, name: str
) -> tuple[Client, BusRounds]:
    """The landing station's rounds from the bus (evaluator/source_bus.py), on a durable
    consumer of ``name``'s own; the client to close."""
    nc = await connect(bus, f"cablewatch-evaluate-{name}")
    try:
        js = nc.jetstream()
        await ensure_stream(js, bus)
    except BaseException:
        await nc.close()
        raise
    d = evaluator.detection
    station = config.topology.landing_station.id
    source = BusRounds(js, bus, station, d.detectors, lookback_s=d.stale_s,
                       due_s=d.due_s(config.evaluator.poll_s),
                       name=f"evaluate-{name}-{station}")  # fmt: skip
    log.info("rounds from the bus: %s, stream %s", bus.servers, bus.stream)
    return nc, source


async def serve(config: Config, listen: tuple[str, int] | None, instance: str = "") -> None:
    """``cablewatch evaluate``: until SIGTERM / SIGINT."""
    async with running(config, listen, instance) as (evaluator, stop):
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
