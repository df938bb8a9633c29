"""agent (the probe agent of a region), spool report."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from cablewatch.agent import agent as agent_mod
from cablewatch.agent import spool as spool_mod
from cablewatch.commands.common import (
    ConfigOpt,
    JsonOpt,
    check,
    check_listen,
    check_tag,
    fail,
    load,
    out,
    run,
    start_logging,
)
from cablewatch.terminal import render

__all__ = ["register", "spool_app"]

spool_app = typer.Typer(help="An agent's durable spool.", no_args_is_help=True)


def agent(
    region: Annotated[
        str, typer.Option("--region", "-r", help="The region this host probes from.")
    ],
    config: ConfigOpt = None,
    spool: Annotated[
        Path | None, typer.Option(help="Spool file (default /var/lib/cablewatch/REGION.db).")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Probe host name tag (default: hostname).")
    ] = None,
    listen: Annotated[
        str | None, typer.Option(help="Metrics HOST:PORT (default: [sinks.prometheus]).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Probe a region's targets continuously; spool, send to InfluxDB, export metrics."""
    cfg = load(config)
    check(cfg.topology.region, region)
    reg = cfg.topology.region(region)
    if host is not None:
        check(check_tag, "--host", host)
    prom = cfg.sinks.prometheus
    where = check_listen(listen, (prom.listen_host, prom.listen_port) if prom else None)
    start_logging(log_level)
    opts = agent_mod.AgentOptions(
        region=reg.id,
        spool_path=spool or Path("/var/lib/cablewatch") / f"{reg.id}.db",
        host=host or socket.gethostname(),
    )
    run(lambda: agent_mod.serve(cfg, opts, where))


@spool_app.command("report")
def spool_report(
    path: Annotated[Path, typer.Argument(help="The agent's spool file.")],
    as_json: JsonOpt = False,
) -> None:
    """Rounds made per series (the agent's own count), points waiting, points dropped."""
    if not path.exists():
        fail(f"{path}: no such spool")
    report = spool_mod.report(path)
    if as_json:
        render.print_json(out, report)
    else:
        out.print(render.spool_table(report))


def register(app: typer.Typer) -> None:
    app.command()(agent)
