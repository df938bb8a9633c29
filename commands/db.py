"""db init: the InfluxDB database, its retention policies and rollup queries."""

from __future__ import annotations

from typing import Annotated

import typer

from cablewatch.collectors.dbinit import init_database
from cablewatch.collectors.influx import InfluxQL
from cablewatch.commands.common import ConfigOpt, call, load, out, run

__all__ = ["db_app"]

db_app = typer.Typer(help="The InfluxDB database (system of record).", no_args_is_help=True)


@db_app.command("init")
def db_init(
    config: ConfigOpt = None,
    raw_days: Annotated[
        int,
        typer.Option(min=1, help="Keep raw points this long."),
    ] = 30,
    rollup_days: Annotated[
        int, typer.Option(min=1, help="Keep the evaluator's 1-minute rollups this long.")
    ] = 400,
) -> None:
    """Create the database and its retention policies (idempotent)."""
    sink = call(load(config).influx, "db init creates its database there")

    async def go() -> list[str]:
        ql = InfluxQL(sink)
        try:
            return await init_database(ql, raw_days=raw_days, rollup_days=rollup_days)
        finally:
            await ql.close()

    for line in run(go):
        out.print(line, markup=False, highlight=False)
