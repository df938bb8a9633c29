"""The evaluator as a process: its clients (InfluxDB, Alertmanager), its metrics endpoint,
SIGTERM / SIGINT; and the commands built on it (``evaluate``, ``sla status``; ``serve`` adds
the gateway, gateway/server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from cablewatch.aio import stop_on_signals
from cablewatch.alerting.alertmanager import AlertmanagerClient
from cablewatch.collectors.influx import InfluxQL, writer_for
from cablewatch.config import Config
from cablewatch.evaluator.metrics import EvaluatorMetrics
from cablewatch.evaluator.service import Evaluator
from cablewatch.sla.evaluate import SlaStatus

__all__ = ["running", "serve", "sla_status"]

log = logging.getLogger("cablewatch.evaluator")

_NEEDS_INFLUX = "the evaluator reads the agents' results from it"


@contextlib.asynccontextmanager
async def running(
    config: Config, listen: tuple[str, int] | None
) -> AsyncIterator[tuple[Evaluator, asyncio.Event]]:
    """An evaluator wired to the configuration's InfluxDB and Alertmanager, its metrics served
    on ``listen``, and an event that SIGTERM / SIGINT set; closes its clients on exit."""
    sink = config.influx(_NEEDS_INFLUX)
    ql = InfluxQL(sink)
    writer = writer_for(sink)
    url = config.alerting.alertmanager_url
    am = AlertmanagerClient(url) if url else None
    metrics = EvaluatorMetrics()
    if listen is not None:
        metrics.serve(*listen)
        log.info("metrics on http://%s:%d/metrics", *listen)
    if am is None:
        log.info("no [alerting] alertmanager_url: events are stored, not posted")
    stop = stop_on_signals()
    try:
        yield Evaluator(config, ql, writer=writer, alertmanager=am, metrics=metrics), stop
    finally:
        await ql.close()
        await writer.close()
        if am is not None:
            await am.close()


async def serve(config: Config, listen: tuple[str, int] | None) -> None:
    """``cablewatch evaluate``: until SIGTERM / SIGINT."""
    async with running(config, listen) as (evaluator, stop):
        await evaluator.run(stop)


async def sla_status(config: Config) -> list[SlaStatus]:
    """``cablewatch sla status``: every policy's status now, read-only."""
    ql = InfluxQL(config.influx(_NEEDS_INFLUX))
    try:
        return await Evaluator(config, ql).evaluate_sla(write=False)
    finally:
        await ql.close()
