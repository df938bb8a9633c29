"""agent (the probe agent of a region), spool report."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from cablewatch.agent import agent as agent_mod
from cablewatch.agent import shards as shards_mod
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
    shard: Annotated[
        str | None,
        typer.Option(
            help="K/N: probe only shard K of N of the region's targets (its own "
            "spool, REGION.shard-K-of-N.db).",
            metavar="K/N",
        ),
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(
            help="Run N agent processes, one shard each (metrics on PORT ... PORT+N-1), "
            "restarting any that exits.",
            min=2,
            max=64,
        ),
    ] = None,
) -> None:
    """Probe a region's targets continuously; spool, send to InfluxDB, export metrics."""
    cfg = load(config)
    check(cfg.topology.region, region)
    reg = cfg.topology.region(region)
    if host is not None:
        check(check_tag, "--host", host)
    prom = cfg.sinks.prometheus
    where = check_listen(listen, (prom.listen_host, prom.listen_port) if prom else None)
    part = parse_shard(shard) if shard is not None else None
    if shards is not None and part is not None:
        fail("--shard and --shards: one or the other (--shards runs --shard 1/N ... N/N)")
    start_logging(log_level)
    if shards is not None:
        base = ["--region", reg.id, "--log-level", log_level]
        for flag, value in (("--config", config), ("--spool", spool), ("--host", host)):
            if value is not None:
                base += [flag, str(value)]
        argv = [shards_mod.child_argv(base, (k, shards), where) for k in range(1, shards + 1)]
        run(lambda: shards_mod.run(argv))
        return
    spool_path = spool or Path("/var/lib/cablewatch") / f"{reg.id}.db"
    opts = agent_mod.AgentOptions(
        region=reg.id,
        spool_path=shards_mod.shard_spool(spool_path, part),
        host=host or socket.gethostname(),
        shard=part,
    )
    run(lambda: agent_mod.serve(cfg, opts, where))


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` with 1 <= K <= N <= 64, or a one-line error naming --shard."""
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n) <= 64):
        fail(f"--shard: got {text!r}, expected K/N with 1 <= K <= N <= 64 (e.g. 2/4)")
    return int(k), int(n)


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
