"""The `cablewatch` command: argument parsing and output only; the work happens elsewhere.

Exit codes: 0 every target answered; 1 a target failed (including 100 % loss); 2 usage,
configuration or permission error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from cablewatch import __version__
from cablewatch import config as config_mod
from cablewatch.agent import agent as agent_mod
from cablewatch.agent import spool as spool_mod
from cablewatch.alerting import rules as rules_mod
from cablewatch.collectors.dbinit import init_database
from cablewatch.collectors.influx import InfluxQL
from cablewatch.config import Config
from cablewatch.errors import CablewatchError
from cablewatch.evaluator import process as evaluator_mod
from cablewatch.lab import manager as lab
from cablewatch.lab import scenario as lab_scenario
from cablewatch.lab import survey as lab_survey_mod
from cablewatch.probes import jobs as runner
from cablewatch.probes.dns import dns_probe
from cablewatch.probes.http import http_probe, parse_url
from cablewatch.probes.result import ProbeResult
from cablewatch.probes.targets import parse_host_port
from cablewatch.probes.tcp import tcp_probe
from cablewatch.reports import period as report_period
from cablewatch.reports import produce as report_produce
from cablewatch.reports import render as report_render
from cablewatch.schema import valid_name
from cablewatch.terminal import render
from cablewatch.topology.model import Topology

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
topology_app = typer.Typer(
    help="The landing station, its cables and regions.", no_args_is_help=True
)
config_app = typer.Typer(help="Configuration files.", no_args_is_help=True)
lab_app = typer.Typer(
    help="The network lab: namespaces joined by emulated cables (root).", no_args_is_help=True
)
app.add_typer(topology_app, name="topology")
app.add_typer(config_app, name="config")
app.add_typer(lab_app, name="lab")
db_app = typer.Typer(help="The InfluxDB database (system of record).", no_args_is_help=True)
spool_app = typer.Typer(help="An agent's durable spool.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(spool_app, name="spool")
sla_app = typer.Typer(help="SLA policies and their status.", no_args_is_help=True)
rules_app = typer.Typer(help="Prometheus rules from the SLA policies.", no_args_is_help=True)
app.add_typer(sla_app, name="sla")
app.add_typer(rules_app, name="rules")
dashboards_app = typer.Typer(help="Grafana dashboards as code.", no_args_is_help=True)
app.add_typer(dashboards_app, name="dashboards")

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


def _load(path: Path | None) -> Config:
    try:
        return config_mod.load(path) if path else config_mod.load_default()
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
    cfg = _load(config)
    topo = cfg.topology
    _check(topo.region, region)
    if cable is not None:
        _check(topo.cable, cable)
    results = _run(lambda: runner.probe_region(topo, cfg.probe, region, cable))
    if not results:
        _fail(f"region {region!r} has no targets in {cfg.source}")
    _report(results, as_json, topo)


@app.command()
def trace(
    what: Annotated[
        str,
        typer.Argument(
            help="A region (its targets, then its service path) or a host name / IP address."
        ),
    ],
    cable: Annotated[
        str | None, typer.Option("--cable", help="A region's targets over this cable only.")
    ] = None,
    udp: Annotated[bool, typer.Option("--udp", help="UDP probes (default: ICMP echo).")] = False,
    queries: Annotated[int, typer.Option("-q", "--queries", min=1, max=10)] = 3,
    max_hops: Annotated[int, typer.Option("-m", "--max-hops", min=1, max=64)] = 30,
    timeout: TimeoutOpt = 2.0,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Paris traceroute: hops, RTTs, loss, the cable the path took and its wet segment."""
    cfg = _load(config)
    topo = cfg.topology
    settings = runner.trace_settings(cfg.probe, mode="udp" if udp else "icmp", queries=queries,
                                     max_hops=max_hops, timeout_s=timeout)  # fmt: skip
    if runner.is_region(topo, what):
        if cable is not None:
            _check(topo.cable, cable)
        results = _run(lambda: runner.trace_region(topo, settings, what, cable))
    elif cable is not None:
        _fail("--cable needs a region (a target is traced over whatever route it has)")
    else:
        results = _run(lambda: runner.trace_targets([what], settings, topo))
    if as_json:
        render.print_json(out, [r.to_dict() for r in results])
    else:
        for table in render.trace_tables(results):
            out.print(table)
    raise typer.Exit(runner.exit_code(results))


@app.command()
def ttft(
    what: Annotated[
        str,
        typer.Argument(
            help="A region (each cable's target) or an http(s):// URL of a streaming endpoint."
        ),
    ],
    cable: Annotated[
        str | None, typer.Option("--cable", help="A region's target over this cable only.")
    ] = None,
    count: Annotated[int, typer.Option("-c", "--count", min=1, max=1000)] = 1,
    timeout: TimeoutOpt = 5.0,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Time to first token of a streaming LLM API: connect, TLS, first token, tokens/s, total,
    and the floor (connect RTT + request RTT + the configured think time)."""
    cfg = _load(config)
    settings = runner.with_timeout(cfg.probe, "ttft", timeout)
    if runner.is_region(cfg.topology, what):
        if cable is not None:
            _check(cfg.topology.cable, cable)
        results = _run(lambda: runner.ttft_region(cfg.topology, settings, what, cable, count))
    elif cable is not None:
        _fail("--cable needs a region")
    else:
        _check(parse_url, what)
        results = _run(lambda: runner.ttft_url(what, settings, count))
    _report(results, as_json, cfg.topology)


@topology_app.command("show")
def topology_show(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Region x cable: path length and physics floor of the RTT."""
    topo = _load(config).topology
    if as_json:
        render.print_json(out, render.topology_rows(topo))
    else:
        out.print(render.topology_table(topo))


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="The TOML file to validate.")]) -> None:
    """Validate a configuration file; print every problem with its key."""
    topo = _load(file).topology
    out.print(
        f"{file}: ok ({len(topo.cables)} cables, {len(topo.regions)} regions, "
        f"{len(topo.targets)} targets)",
        markup=False,
        highlight=False,
    )


StateDirOpt = Annotated[
    Path,
    typer.Option("--state-dir", envvar="CABLEWATCH_LAB_DIR", help="Where the lab keeps its state."),
]
PrefixOpt = Annotated[
    str,
    typer.Option("--prefix", envvar="CABLEWATCH_LAB_PREFIX", help="Name prefix of lab namespaces."),
]
RegionOpt = Annotated[str | None, typer.Option("--region", "-r", help="Only this region.")]
LandingOpt = Annotated[
    str | None,
    typer.Option("--landing-point", "-l",
                 help="Only the regions joining the cable here (a segment)."),
]  # fmt: skip
_LAB = lab.LabOptions()


def _call(fn: Callable[..., T], *args: object) -> T:
    try:
        return fn(*args)
    except CablewatchError as exc:
        _fail(str(exc))


@lab_app.command("up")
def lab_up(
    config: ConfigOpt = None,
    state_dir: StateDirOpt = _LAB.state_dir,
    prefix: PrefixOpt = _LAB.prefix,
    mgmt_subnet: Annotated[str, typer.Option(help="Host <-> probe namespaces network.")] = (
        _LAB.mgmt_subnet
    ),
    think_ms: Annotated[float, typer.Option(min=0, help="Token API: time to first token.")] = (
        _LAB.think_ms
    ),
    token_ms: Annotated[float, typer.Option(min=0, help="Token API: gap between tokens.")] = (
        _LAB.token_ms
    ),
    seed: Annotated[int | None, typer.Option(help="Seed of the emulator's randomness.")] = None,
) -> None:
    """Build the lab from the topology (idempotent; repairs a broken lab)."""
    cfg = _load(config)
    opts = lab.LabOptions(state_dir, prefix, mgmt_subnet, think_ms, token_ms, seed=seed)
    _state, message = _call(lab.up, cfg, opts)
    out.print(message, markup=False, highlight=False)


@lab_app.command("down")
def lab_down(state_dir: StateDirOpt = _LAB.state_dir, prefix: PrefixOpt = _LAB.prefix) -> None:
    """Remove every namespace, link and process of the lab (works after crashes too)."""
    removed = _call(lab.down, lab.LabOptions(state_dir, prefix))
    out.print(f"lab down: removed {len(removed)} namespaces, links and processes", markup=False)


@lab_app.command("status")
def lab_status(state_dir: StateDirOpt = _LAB.state_dir, as_json: JsonOpt = False) -> None:
    """Links, their state and configured delays, packets forwarded and dropped."""
    status = _call(lab.status, lab.LabOptions(state_dir))
    if as_json:
        render.print_json(out, status)
    else:
        out.print(render.lab_status_table(status))


@lab_app.command("cut")
def lab_cut(
    cable: Annotated[str, typer.Argument(help="Cable name, e.g. ADC.")],
    region: RegionOpt = None,
    landing_point: LandingOpt = None,
    state_dir: StateDirOpt = _LAB.state_dir,
) -> None:
    """Cut a cable: every packet over it is lost (for all regions, one, or a segment)."""
    reply = _call(lab.set_links, lab.LabOptions(state_dir), cable, region, {"cut": True},
                  landing_point)  # fmt: skip
    out.print(f"cut {cable}: {reply['matched']} paths", markup=False)


@lab_app.command("degrade")
def lab_degrade(
    cable: Annotated[str, typer.Argument(help="Cable name, e.g. SJC.")],
    region: RegionOpt = None,
    add_delay_ms: Annotated[float | None, typer.Option(min=0, help="Extra one-way delay.")] = None,
    loss_pct: Annotated[
        float | None, typer.Option(min=0, max=100, help="Round-trip loss a ping sees.")
    ] = None,
    jitter_ms: Annotated[float | None, typer.Option(min=0, help="Half-normal sigma.")] = None,
    rate_kbps: Annotated[float | None, typer.Option(min=0, help="Rate limit, 0 = none.")] = None,
    landing_point: LandingOpt = None,
    state_dir: StateDirOpt = _LAB.state_dir,
) -> None:
    """Add delay, jitter, loss or a rate limit to a cable (for all regions, or one)."""
    params = {
        k: v
        for k, v in (
            ("add_delay_ms", add_delay_ms),
            ("loss_pct", loss_pct),
            ("jitter_ms", jitter_ms),
            ("rate_kbps", rate_kbps),
        )
        if v is not None
    }
    if not params:
        _fail(
            "lab degrade: give at least one of --add-delay-ms, --loss-pct, --jitter-ms, --rate-kbps"
        )
    reply = _call(lab.set_links, lab.LabOptions(state_dir), cable, region, params, landing_point)
    out.print(f"degraded {cable}: {reply['matched']} paths", markup=False)


@lab_app.command("restore")
def lab_restore(
    cable: Annotated[str | None, typer.Argument(help="Cable name; all cables if left out.")] = None,
    state_dir: StateDirOpt = _LAB.state_dir,
) -> None:
    """Undo cuts and degradations (of one cable, or all)."""
    reply = _call(lab.restore, lab.LabOptions(state_dir), cable)
    out.print(f"restored {cable or 'all cables'}: {reply['matched']} paths", markup=False)


@lab_app.command("reroute")
def lab_reroute(
    region: Annotated[str, typer.Argument(help="Region id or name, e.g. jakarta.")],
    via: Annotated[str, typer.Option("--via", help="The cable its service route takes now.")],
    state_dir: StateDirOpt = _LAB.state_dir,
) -> None:
    """Move a region's route to the service address onto another cable (nothing is cut)."""
    got = _call(lab.reroute, lab.LabOptions(state_dir), region, via)
    out.print(f"rerouted {got['region']}: {got['service_address']} via {got['cable']} "
              f"(next hop {got['next_hop']}, source {got['source']})", markup=False)  # fmt: skip


@lab_app.command(
    "exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def lab_exec(
    ctx: typer.Context,
    region: Annotated[str, typer.Argument(help="Region whose namespace runs the command.")],
    state_dir: StateDirOpt = _LAB.state_dir,
) -> None:
    """Run a command in a region's namespace: lab exec REGION -- COMMAND..."""
    argv = _call(lab.exec_command, lab.LabOptions(state_dir), region, list(ctx.args))
    sys.stdout.flush()
    os.execvp(argv[0], argv)


@lab_app.command("survey")
def lab_survey(
    count: Annotated[int, typer.Option("-c", "--count", min=1, max=10000)] = 10,
    interval: Annotated[float, typer.Option("-i", "--interval", min=0.0)] = 0.05,
    timeout: TimeoutOpt = 1.0,
    state_dir: StateDirOpt = _LAB.state_dir,
    as_json: JsonOpt = False,
) -> None:
    """Ping from every region over every cable at once: median RTT beside the floor."""
    opts = lab.LabOptions(state_dir)
    _call(lab.require_root)
    state = _call(lab.load_state, opts)
    results = _run(
        lambda: lab_survey_mod.survey(state, count=count, interval_s=interval, timeout_s=timeout)
    )
    if as_json:
        render.print_json(out, [r.to_dict() for r in results])
    else:
        title = f"Lab survey: {count} pings per region x cable; median RTT (stretch over floor)"
        out.print(render.survey_table(results, title))
    raise typer.Exit(runner.exit_code(results))


@lab_app.command("targets")
def lab_targets(state_dir: StateDirOpt = _LAB.state_dir, as_json: JsonOpt = False) -> None:
    """Addresses per region x cable: where to aim, from which namespace and source."""
    targets = _call(lab.targets, lab.LabOptions(state_dir))
    if as_json:
        render.print_json(out, targets)
    else:
        out.print(render.lab_targets_table(targets))


@lab_app.command("scenario")
def lab_scenario_run(
    file: Annotated[Path, typer.Argument(help="Scenario TOML; see lab/scenarios/.")],
    speed: Annotated[
        float, typer.Option(min=0.01, help="Run the timeline this much faster.")
    ] = 1.0,
    state_dir: StateDirOpt = _LAB.state_dir,
) -> None:
    """Play timed events (cut, degrade, restore) against the running lab."""
    events = _call(lab_scenario.load, file)
    _call(
        lab_scenario.play,
        lab.LabOptions(state_dir),
        events,
        speed,
        lambda line: out.print(line, markup=False, highlight=False),
    )


@app.command()
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
    cfg = _load(config)
    _check(cfg.topology.region, region)
    reg = cfg.topology.region(region)
    if host is not None:
        _check(_check_tag, "--host", host)
    prom = cfg.sinks.prometheus
    where = _check_listen(listen, (prom.listen_host, prom.listen_port) if prom else None)
    _start_logging(log_level)
    opts = agent_mod.AgentOptions(
        region=reg.id,
        spool_path=spool or Path("/var/lib/cablewatch") / f"{reg.id}.db",
        host=host or socket.gethostname(),
    )
    _run(lambda: agent_mod.serve(cfg, opts, where))


def _check_listen(listen: str | None, default: tuple[str, int] | None) -> tuple[str, int] | None:
    """--listen HOST:PORT, or the configuration's address when it is not given."""
    if listen is None:
        return default
    try:
        return parse_host_port(listen)
    except CablewatchError as exc:
        _fail(f"--listen: {exc}")


def _start_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # one line per HTTP request (every write, every poll) is noise: our own code logs what
    # changed (a sink failing, coming back); the HTTP clients speak up only when it matters
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def _evaluator_config(config: Path | None) -> Config:
    """The configuration of an evaluating process, which reads InfluxDB."""
    cfg = _load(config)
    _check(cfg.influx, "the evaluator reads from it")
    return cfg


def _check_tag(option: str, value: str) -> None:
    """A value that becomes a tag: no control characters, no backslashes."""
    if not valid_name(value):
        raise CablewatchError(f"{option}: got {value!r}, expected a name without control "
                              "characters or backslashes (it becomes an InfluxDB tag)")  # fmt: skip


@spool_app.command("report")
def spool_report(
    path: Annotated[Path, typer.Argument(help="The agent's spool file.")],
    as_json: JsonOpt = False,
) -> None:
    """Rounds made per series (the agent's own count), points waiting, points dropped."""
    if not path.exists():
        _fail(f"{path}: no such spool")
    report = spool_mod.report(path)
    if as_json:
        render.print_json(out, report)
    else:
        out.print(render.spool_table(report))


@db_app.command("init")
def db_init(
    config: ConfigOpt = None,
    raw_days: Annotated[
        int,
        typer.Option(min=1, help="Keep raw points (and the evaluator's minute rollups) this long."),
    ] = 40,
    rollup_days: Annotated[int, typer.Option(min=1, help="Keep 1-minute rollups this long.")] = 400,
) -> None:
    """Create the database, retention policies and rollup queries (idempotent)."""
    sink = _call(_load(config).influx, "db init creates its database there")

    async def go() -> list[str]:
        ql = InfluxQL(sink)
        try:
            return await init_database(ql, raw_days=raw_days, rollup_days=rollup_days)
        finally:
            await ql.close()

    for line in _run(go):
        out.print(line, markup=False, highlight=False)


@app.command()
def evaluate(
    config: ConfigOpt = None,
    listen: Annotated[
        str | None, typer.Option(help="Metrics HOST:PORT (default: [evaluator] listen_*).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Detect and classify faults, evaluate SLAs, raise and resolve alerts, continuously."""
    cfg = _evaluator_config(config)
    where = _check_listen(listen, (cfg.evaluator.listen_host, cfg.evaluator.listen_port))
    _start_logging(log_level)
    _run(lambda: evaluator_mod.serve(cfg, where))


@app.command()
def serve(
    config: ConfigOpt = None,
    listen: Annotated[
        str | None, typer.Option(help="Metrics HOST:PORT (default: [evaluator] listen_*).")
    ] = None,
    delivery_log: Annotated[
        Path | None, typer.Option(help="Append every webhook delivery attempt here (JSON lines).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
    print_openapi: Annotated[
        bool, typer.Option("--print-openapi", help="Print the API's OpenAPI schema and exit.")
    ] = False,
) -> None:
    """The evaluator plus the gateway API ([api]) and signed webhooks ([[webhooks]])."""
    from cablewatch.gateway import server as gateway_server

    if print_openapi:
        from cablewatch.gateway.api import openapi_document

        render.print_json(out, openapi_document())
        return
    cfg = _evaluator_config(config)
    api = _call(gateway_server.api_settings, cfg)
    _check(gateway_server.read_tokens, api)
    _check(gateway_server.tls_arguments, api)
    where = _check_listen(listen, (cfg.evaluator.listen_host, cfg.evaluator.listen_port))
    _start_logging(log_level)
    _run(lambda: gateway_server.serve(cfg, where, delivery_log=delivery_log))


@sla_app.command("status")
def sla_status(
    config: ConfigOpt = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer.")] = None,
    paths: Annotated[bool, typer.Option("--paths", help="Also one row per cable.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Every customer's SLA now: availability, error budget, burn rates, objectives."""
    cfg = _load(config)
    if not cfg.slas:
        _fail(f"{cfg.source}: no [[sla]] policies")
    if customer is not None:
        _check(cfg.sla, customer)
    _check(cfg.influx, "sla status reads from it")
    statuses = _run(lambda: evaluator_mod.sla_status(cfg))
    wanted = cfg.sla(customer).customer if customer else None
    shown = [s for s in statuses if (wanted is None or s.customer == wanted)
             and (paths or s.cable == "any")]  # fmt: skip
    if as_json:
        render.print_json(out, render.sla_rows(shown))
    else:
        out.print(render.sla_table(shown, cfg))


@app.command("report")
def report(
    customer: Annotated[str, typer.Option(help="The customer (an [[sla]] policy).")],
    config: ConfigOpt = None,
    period: Annotated[str | None, typer.Option(help="A month, e.g. 2026-11.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Start (ISO 8601).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End (ISO 8601), excluded.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="pdf, html or json.")] = "pdf",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="File (default: stdout for html and json).")
    ] = None,
) -> None:
    """A customer's SLA report for a month or a span, from the system of record."""
    cfg = _load(config)
    if fmt not in report_render.FORMATS:
        _fail(f"--format {fmt!r}: expected one of {', '.join(report_render.FORMATS)}")
    policy = _call(cfg.sla, customer)
    span = _call(report_period.parse, period, start, end, cfg.report.timezone)
    _check(cfg.influx, "reports read from it")
    if out_file is None and fmt == "pdf":
        _fail("--format pdf needs --out FILE")
    made, body = _run(lambda: report_produce.produce(cfg, policy.customer, span, fmt))
    if out_file is None:
        sys.stdout.buffer.write(body)
        return
    out_file.write_bytes(body)
    err.print(f"{out_file}: {made.headline()}", markup=False, highlight=False)


@rules_app.command("generate")
def rules_generate(
    config: ConfigOpt = None,
    output: Annotated[Path, typer.Option("--out", "-o", help="The rules file to write.")] = Path(
        "deploy/prometheus/sla.yml"
    ),
) -> None:
    """Write Prometheus recording and alerting rules for the [[sla]] policies."""
    cfg = _load(config)
    if not cfg.slas:
        _fail(f"{cfg.source}: no [[sla]] policies to generate rules from")
    source = config.name if config is not None else "the default topology (shantou.toml)"
    text = rules_mod.generate(cfg.slas, source)
    try:
        output.write_text(text)
    except OSError as exc:
        _fail(f"{output}: {exc.strerror}")
    count = text.count("- record:") + text.count("- alert:")
    out.print(f"wrote {count} rules for {len(cfg.slas)} SLA policies to {output}",
              markup=False, highlight=False, soft_wrap=True)  # fmt: skip


@dashboards_app.command("build")
def dashboards_build(
    config: ConfigOpt = None,
    output: Annotated[Path, typer.Option("--out", "-o", help="Directory for the JSON.")] = Path(
        "deploy/grafana/dashboards"
    ),
) -> None:
    """Write every dashboard's JSON (NOC overview, path, cable, SLA, agents)."""
    from cablewatch.dashboards.build import write

    cfg = _load(config)
    try:
        written = write(cfg, output)
    except OSError as exc:
        _fail(f"{output}: {exc.strerror}")
    for path in written:
        out.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)


@dashboards_app.command("preview")
def dashboards_preview(
    prometheus: Annotated[str, typer.Option("--prometheus", help="Prometheus' base URL.")],
    config: ConfigOpt = None,
    output: Annotated[Path, typer.Option("--out", "-o", help="Directory for the PNGs.")] = Path(
        "out/previews"
    ),
    minutes: Annotated[float, typer.Option(min=1, help="Time range: the last N minutes.")] = 15,
    values: Annotated[
        list[str] | None, typer.Option("--set", help="A variable, NAME=VALUE (repeatable).")
    ] = None,
) -> None:
    """Draw every dashboard to PNG (matplotlib) from its queries on the live data sources."""
    import time

    from cablewatch.dashboards.build import build_all
    from cablewatch.dashboards.live import Sources
    from cablewatch.dashboards.preview import draw

    cfg = _load(config)
    sink = _call(cfg.influx, "the dashboards read the system of record from it")
    topo = cfg.topology
    chosen = {"station": topo.landing_station.id, "region": topo.regions[0].id,
              "cable": topo.cables[0].name,
              "customer": cfg.slas[0].customer if cfg.slas else ""}  # fmt: skip
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep:
            _fail(f"--set {item!r}: expected NAME=VALUE")
        chosen[name] = value
    src = Sources(sink.url, sink.database, prometheus.rstrip("/"))
    end = time.time()
    for uid, model in build_all(cfg).items():
        png = draw(model, src, chosen, output / f"{uid}.png", start_s=end - minutes * 60,
                   end_s=end)  # fmt: skip
        out.print(f"wrote {png}", markup=False, highlight=False, soft_wrap=True)


@dashboards_app.command("publish")
def dashboards_publish(
    url: Annotated[str, typer.Option("--url", help="Grafana's base URL.")],
    config: ConfigOpt = None,
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding the API token.")
    ] = "GRAFANA_TOKEN",
    token_file: Annotated[
        Path | None, typer.Option(help="File holding the API token (instead of --token-env).")
    ] = None,
    folder: Annotated[str, typer.Option(help="Grafana folder to upload into.")] = "cablewatch",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be sent; send nothing.")
    ] = False,
) -> None:
    """Upload every dashboard into a Grafana folder, overwriting older versions."""
    from cablewatch.credentials import read_secret
    from cablewatch.dashboards import publish as pub
    from cablewatch.dashboards.build import build_all

    uploads = pub.plan(build_all(_load(config)))
    if dry_run:
        out.print(f"would create folder {folder!r} ({pub.FOLDER_UID}) if missing on {url}",
                  markup=False, highlight=False)  # fmt: skip
        for up in uploads:
            out.print(f"would POST /api/dashboards/db {up.uid} ({up.title!r}, "
                      f"{len(up.body['dashboard']['panels'])} panels, overwrite)",
                      markup=False, highlight=False)  # fmt: skip
        return
    token = _call(read_secret, "grafana", "" if token_file else token_env, "--token-env",
                  str(token_file or ""), "--token-file")  # fmt: skip
    if not token:
        _fail("grafana: no API token (--token-env or --token-file)")
    for line in _call(pub.publish, url, token, uploads, folder):
        out.print(line, markup=False, highlight=False, soft_wrap=True)


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
