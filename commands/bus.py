"""ingest (the bus's batches into InfluxDB)."""

from __future__ import annotations

from typing import Annotated

import typer

from cablewatch.bus import ingest as ingest_mod
from cablewatch.commands.common import ConfigOpt, check_listen, load, run, start_logging

__all__ = ["register"]


def ingest(
    config: ConfigOpt = None,
    listen: Annotated[str | None, typer.Option(help="Metrics HOST:PORT (default: none).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Write what the agents publish on the bus ([bus]) into InfluxDB, acknowledging each
    batch once stored; run as many as you like (they share the work)."""
    cfg = load(config)
    where = check_listen(listen, None)
    start_logging(log_level)
    run(lambda: ingest_mod.serve(cfg, where))


def register(app: typer.Typer) -> None:
    app.command()(ingest)
