"""reflect: a STAMP Session-Reflector for landing stations without a STAMP-capable router."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from cablewatch.aio import stop_on_signals
from cablewatch.commands.common import check_listen, fail, run, start_logging
from cablewatch.probes.ntp_state import clock_error
from cablewatch.probes.stamp_wire import PORT, encode_error
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
    clock_error_ms: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=60_000,
            help="This host's clock error bound, in the replies' "
            "error estimate (default: the kernel's NTP state, adjtimex).",
        ),
    ] = None,
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
    synced, error_s = clock_error() if clock_error_ms is None else (True, clock_error_ms / 1e3)
    reflector = Reflector(allow=networks, allow_any=allow_any,
                          error=encode_error(error_s, synchronized=synced))  # fmt: skip

    async def go() -> None:
        try:
            await reflector.serve(address[0], address[1], stop_on_signals())
        except OSError as exc:
            fail(f"cannot answer on {listen}: {exc.strerror or exc}")

    run(go)


def register(app: typer.Typer) -> None:
    app.command("reflect")(reflect)
