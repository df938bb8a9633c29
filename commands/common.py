"""What every command shares: the consoles, the common options, and turning CablewatchError
into one line on stderr with exit code 2 (never a traceback)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from cablewatch import config as config_mod
from cablewatch.config import Config
from cablewatch.errors import CablewatchError
from cablewatch.probes import jobs as runner
from cablewatch.probes.result import ProbeResult
from cablewatch.probes.targets import parse_host_port
from cablewatch.schema import valid_name
from cablewatch.terminal import render
from cablewatch.topology.model import Topology

__all__ = [
    "ConfigOpt",
    "JsonOpt",
    "TimeoutOpt",
    "call",
    "check",
    "check_listen",
    "check_tag",
    "err",
    "evaluator_config",
    "fail",
    "load",
    "out",
    "report_results",
    "run",
    "start_logging",
]

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


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"cablewatch: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(factory())
    except CablewatchError as exc:
        fail(str(exc))


def load(path: Path | None) -> Config:
    try:
        return config_mod.load(path) if path else config_mod.load_default()
    except CablewatchError as exc:
        fail(str(exc).replace("\n", "\ncablewatch: "))


def report_results(
    results: Sequence[ProbeResult], as_json: bool, topology: Topology | None = None
) -> None:
    if as_json:
        render.print_json(out, [r.to_dict() for r in results])
    else:
        for table in render.results_table(results, topology):
            out.print(table)
    raise typer.Exit(runner.exit_code(results))


def call(fn: Callable[..., T], *args: object) -> T:
    try:
        return fn(*args)
    except CablewatchError as exc:
        fail(str(exc))


def check(fn: Callable[..., object], *args: object) -> None:
    """Run a validation up front so that bad input fails before any packet is sent."""
    try:
        fn(*args)
    except CablewatchError as exc:
        fail(str(exc))


def check_listen(listen: str | None, default: tuple[str, int] | None) -> tuple[str, int] | None:
    """--listen HOST:PORT, or the configuration's address when it is not given."""
    if listen is None:
        return default
    try:
        return parse_host_port(listen)
    except CablewatchError as exc:
        fail(f"--listen: {exc}")


def start_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # one line per HTTP request (every write, every poll) is noise: our own code logs what
    # changed (a sink failing, coming back); the HTTP clients speak up only when it matters
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def evaluator_config(config: Path | None) -> Config:
    """The configuration of an evaluating process, which reads InfluxDB."""
    cfg = load(config)
    check(cfg.influx, "the evaluator reads from it")
    return cfg


def check_tag(option: str, value: str) -> None:
    """A value that becomes a tag: no control characters, no backslashes."""
    if not valid_name(value):
        raise CablewatchError(f"{option}: got {value!r}, expected a name without control "
                              "characters or backslashes (it becomes an InfluxDB tag)")  # fmt: skip
