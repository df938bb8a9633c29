"""topology show, config check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cablewatch.commands.common import ConfigOpt, JsonOpt, load, out
from cablewatch.terminal import render

__all__ = ["config_app", "topology_app"]

topology_app = typer.Typer(
    help="The landing station, its cables and regions.", no_args_is_help=True
)
config_app = typer.Typer(help="Configuration files.", no_args_is_help=True)


@topology_app.command("show")
def topology_show(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Region x cable: path length and physics floor of the RTT."""
    topo = load(config).topology
    if as_json:
        render.print_json(out, render.topology_rows(topo))
    else:
        out.print(render.topology_table(topo))


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="The TOML file to validate.")]) -> None:
    """Validate a configuration file; print every problem with its key."""
    topo = load(file).topology
    out.print(
        f"{file}: ok ({len(topo.cables)} cables, {len(topo.regions)} regions, "
        f"{len(topo.targets)} targets)",
        markup=False,
        highlight=False,
    )
