"""The `cablewatch` command: the Typer app, assembled from its groups (commands/); argument
parsing and output only, the work happens elsewhere.

Exit codes: 0 every target answered; 1 a target failed (including 100 % loss); 2 usage,
configuration or permission error (one line on stderr, never a traceback).
"""

from __future__ import annotations

from typing import Annotated

import typer

from cablewatch import __version__
from cablewatch.commands import (
    agent,
    bus,
    dashboards,
    db,
    evaluator,
    lab,
    probes,
    reflector,
    topology,
)
from cablewatch.commands.common import out

__all__ = ["app", "main"]

app = typer.Typer(
    name="cablewatch",
    help="Watch the latency of submarine cable routes, one cable at a time.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help: "[api]" and "[[webhooks]]" are section names, not rich markup, and flags
    # take no value (rich help shows them as "<bool>")
    rich_markup_mode=None,
)
probes.register(app)
app.add_typer(topology.topology_app, name="topology")
app.add_typer(topology.config_app, name="config")
app.add_typer(lab.lab_app, name="lab")
agent.register(app)
bus.register(app)
app.add_typer(db.db_app, name="db")
app.add_typer(agent.spool_app, name="spool")
evaluator.register(app)
reflector.register(app)
app.add_typer(evaluator.sla_app, name="sla")
app.add_typer(evaluator.rules_app, name="rules")
app.add_typer(dashboards.dashboards_app, name="dashboards")


def _version(value: bool) -> None:
    if value:
        out.print(f"cablewatch {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Watch the latency of submarine cable routes, one cable at a time."""


def main() -> None:
    app(prog_name="cablewatch")


if __name__ == "__main__":  # pragma: no cover
    main()
