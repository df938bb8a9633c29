"""reflect: a STAMP Session-Reflector for landing stations without a STAMP-capable router."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from cablewatch.aio import stop_on_signals
from cablewatch.commands.common import check_listen, fail, run, start_logging
from cablewatch.probes.stamp_wire import PORT
from cablewatch.reflector.stamp import Network, Reflector

__all__ = ["register"]


def reflect(
    listen: Annotated[str, typer.Option(help="HOST:PORT to answer on (UDP).")] = f"0.0.0.0:{PORT}",
    allow: Annotated[
        list[str] | None,
        typer.Option(help="Answer senders in this network (CIDR or address); repeatable."),
    ] = None,
    allow_any: Annotated[
        bool, typer.Option("--allow-any", help="Answer any sender (no allow list).")
    ] = False,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "info",
) -> None:
    """Answer STAMP test packets (RFC 8762, unauthenticated, stateful) from the agents."""
    address = check_listen(listen, None)
    assert address is not None
    networks: list[Network] = []
    for text in allow or []:
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            fail(f"--allow: {exc}")
    if not networks and not allow_any:
        fail("reflect answers nobody without --allow NETWORK (the agents' addresses) or "
             "--allow-any")  # fmt: skip
    start_logging(log_level)
    reflector = Reflector(allow=networks, allow_any=allow_any)

    async def go() -> None:
        try:
            await reflector.serve(address[0], address[1], stop_on_signals())
        except OSError as exc:
            fail(f"cannot answer on {listen}: {exc.strerror or exc}")

    run(go)


def register(app: typer.Typer) -> None:
    app.command("reflect")(reflect)
