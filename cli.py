"""The `cablewatch` command: argument parsing and output only; the work happens elsewhere.

Exit codes: 0 every target answered; 1 a target failed (including 100 % loss); 2 usage,
configuration or permission error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from cablewatch import __version__
from cablewatch.errors import CablewatchError
from cablewatch.probes import runner
from cablewatch.probes.dns import dns_probe
from cablewatch.probes.http import http_probe, parse_url
from cablewatch.probes.result import ProbeResult
from cablewatch.probes.targets import parse_host_port
from cablewatch.probes.tcp import tcp_probe
from cablewatch.terminal import render
from cablewatch.topology import config as topology_config
from cablewatch.topology.model import Topology

__all__ = ["app", "main"]

app = typer.Typer(
    name="cablewatch",
    help="Watch the latency of submarine cable routes, one cable at a time.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
topology_app = typer.Typer(
    help="The landing station, its cables and regions.", no_args_is_help=True
)
config_app = typer.Typer(help="Configuration files.", no_args_is_help=True)
app.add_typer(topology_app, name="topology")
app.add_typer(config_app, name="config")

# Pipes and CI logs get a wide table instead of rich's 80-column fallback ($COLUMNS wins).
out = Console(
    soft_wrap=False, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200
)
err = Console(stderr=True)
T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
TimeoutOpt = Annotated[
    float, typer.Option("-W", "--timeout", min=0.001, help="Seconds to wait for an answer.")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-f", help="Configuration file (default: the packaged Shantou one)."),
]


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"cablewatch: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(factory())
    except CablewatchError as exc:
        _fail(str(exc))


def _load(path: Path | None) -> Topology:
    try:
        return topology_config.load(path) if path else topology_config.load_default()
    except CablewatchError as exc:
        _fail(str(exc).replace("\n", "\ncablewatch: "))


def _report(
    results: Sequence[ProbeResult], as_json: bool, topology: Topology | None = None
) -> None:
    if as_json:
        render.print_json(out, [r.to_dict() for r in results])
    else:
        for table in render.results_table(results, topology):
            out.print(table)
    raise typer.Exit(runner.exit_code(results))


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


@app.command()
def ping(
    targets: Annotated[list[str], typer.Argument(help="Host names or IP addresses.")],
    count: Annotated[int, typer.Option("-c", "--count", min=1, max=10000)] = 5,
    interval: Annotated[
        float, typer.Option("-i", "--interval", min=0.0, help="Seconds between packets.")
    ] = 0.2,
    timeout: TimeoutOpt = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """ICMP echo: per-packet RTT, loss, jitter (one shared socket for all targets)."""
    results = _run(
        lambda: runner.ping_targets(targets, count=count, interval_s=interval, timeout_s=timeout)
    )
    _report(results, as_json)


@app.command()
def tcp(
    targets: Annotated[list[str], typer.Argument(help="HOST:PORT or [IPV6]:PORT.")],
    timeout: TimeoutOpt = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """TCP connect time."""
    for t in targets:
        _check(parse_host_port, t)

    async def go() -> list[ProbeResult]:
        return list(await asyncio.gather(*(tcp_probe(t, timeout_s=timeout) for t in targets)))

    _report(_run(go), as_json)


@app.command()
def http(
    urls: Annotated[list[str], typer.Argument(help="http:// or https:// URLs.")],
    timeout: TimeoutOpt = 5.0,
    insecure: Annotated[bool, typer.Option("--insecure", "-k", help="Skip TLS checks.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """HTTP(S) GET with phase timings: dns, connect, tls, first byte, transfer, total."""
    for u in urls:
        _check(parse_url, u)

    async def go() -> list[ProbeResult]:
        probes = (http_probe(u, timeout_s=timeout, verify_tls=not insecure) for u in urls)
        return list(await asyncio.gather(*probes))

    _report(_run(go), as_json)


@app.command()
def dns(
    name: Annotated[str, typer.Argument(help="The name to look up.")],
    server: Annotated[str, typer.Option("--server", "-s", help="ADDR[:PORT] or [IPV6]:PORT.")],
    record_type: Annotated[
        str, typer.Option("--type", "-t", help="Record type: A, AAAA, TXT, CNAME, ...")
    ] = "A",
    timeout: TimeoutOpt = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """DNS query time against one server."""
    _check(partial(parse_host_port, default_port=53), server)
    result = _run(
        lambda: dns_probe(name, server, record_type=record_type.upper(), timeout_s=timeout)
    )
    _report([result], as_json)


@app.command()
def probe(
    region: Annotated[str, typer.Argument(help="Region id or name, e.g. singapore.")],
    cable: Annotated[str | None, typer.Option("--cable", help="Only this cable.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Probe a region's targets from the topology, over each cable (or one)."""
    topo = _load(config)
    _check(topo.region, region)
    if cable is not None:
        _check(topo.cable, cable)
    results = _run(lambda: runner.probe_region(topo, region, cable))
    if not results:
        _fail(f"region {region!r} has no targets in {topo.source}")
    _report(results, as_json, topo)


@topology_app.command("show")
def topology_show(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Region x cable: path length and physics floor of the RTT."""
    topo = _load(config)
    if as_json:
        render.print_json(out, render.topology_rows(topo))
    else:
        out.print(render.topology_table(topo))


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="The TOML file to validate.")]) -> None:
    """Validate a configuration file; print every problem with its key."""
    topo = _load(file)
    out.print(
        f"{file}: ok ({len(topo.cables)} cables, {len(topo.regions)} regions, "
        f"{len(topo.targets)} targets)",
        markup=False,
        highlight=False,
    )


def _check(fn: Callable[..., object], *args: object) -> None:
    """Run a validation up front so that bad input fails before any packet is sent."""
    try:
        fn(*args)
    except CablewatchError as exc:
        _fail(str(exc))


def main() -> None:
    app(prog_name="cablewatch")


if __name__ == "__main__":  # pragma: no cover
    main()
