"""Spot checks: ping, tcp, http, dns, probe REGION, trace, ttft."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import typer

from cablewatch.commands.common import (
    ConfigOpt,
    JsonOpt,
    TimeoutOpt,
    check,
    fail,
    load,
    out,
    report_results,
    run,
)
from cablewatch.probes import jobs as runner
from cablewatch.probes.http import parse_url
from cablewatch.probes.targets import parse_host_port
from cablewatch.terminal import render

__all__ = ["register"]


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
    results = run(
        lambda: runner.ping_targets(targets, count=count, interval_s=interval, timeout_s=timeout)
    )
    report_results(results, as_json)


def tcp(
    targets: Annotated[list[str], typer.Argument(help="HOST:PORT or [IPV6]:PORT.")],
    timeout: TimeoutOpt = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """TCP connect time."""
    for t in targets:
        check(parse_host_port, t)
    report_results(run(lambda: runner.tcp_targets(targets, timeout_s=timeout)), as_json)


def stamp(
    targets: Annotated[
        list[str], typer.Argument(help="STAMP reflectors: HOST, HOST:PORT (default port 862).")
    ],
    count: Annotated[
        int, typer.Option("--count", "-c", min=1, max=1000, help="Test packets per round.")
    ] = 5,
    interval: Annotated[
        float, typer.Option("--interval", "-i", min=0.001, help="Seconds between packets.")
    ] = 0.2,
    timeout: TimeoutOpt = 2.0,
    clock_error_ms: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=60_000,
            help="This host's clock error bound (default: the kernel's NTP state, adjtimex).",
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            help="Probing from this topology region: a target of its "
            "paths is judged against the path's floor and the cable its replies "
            "came back over is named.",
        ),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """STAMP (RFC 8762) to a reflector: one-way delay each way, round trip, loss per direction."""
    for t in targets:
        check(partial(parse_host_port, default_port=862), t)
    topology = None
    if region is not None:
        topology = load(config).topology
        check(topology.region, region)
    error_s = None if clock_error_ms is None else clock_error_ms / 1e3
    report_results(run(lambda: runner.stamp_targets(targets, count=count, interval_s=interval,
                                                    timeout_s=timeout, clock_error_s=error_s,
                                                    topology=topology, region=region)),
                   as_json)  # fmt: skip


def http(
    urls: Annotated[list[str], typer.Argument(help="http:// or https:// URLs.")],
    timeout: TimeoutOpt = 5.0,
    insecure: Annotated[bool, typer.Option("--insecure", "-k", help="Skip TLS checks.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """HTTP(S) GET with phase timings: dns, connect, tls, first byte, transfer, total."""
    for u in urls:
        check(parse_url, u)
    results = run(lambda: runner.http_urls(urls, timeout_s=timeout, verify_tls=not insecure))
    report_results(results, as_json)


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
    check(partial(parse_host_port, default_port=53), server)
    result = run(
        lambda: runner.dns_query(name, server, record_type=record_type.upper(), timeout_s=timeout)
    )
    report_results([result], as_json)


def probe(
    region: Annotated[str, typer.Argument(help="Region id or name, e.g. singapore.")],
    cable: Annotated[str | None, typer.Option("--cable", help="Only this cable.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Probe a region's targets from the topology, over each cable (or one)."""
    cfg = load(config)
    topo = cfg.topology
    check(topo.region, region)
    if cable is not None:
        check(topo.cable, cable)
    results = run(lambda: runner.probe_region(topo, cfg.probe, region, cable))
    if not results:
        fail(f"region {region!r} has no targets in {cfg.source}")
    report_results(results, as_json, topo)


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
    cfg = load(config)
    topo = cfg.topology
    settings = runner.trace_settings(cfg.probe, mode="udp" if udp else "icmp", queries=queries,
                                     max_hops=max_hops, timeout_s=timeout)  # fmt: skip
    if runner.is_region(topo, what):
        if cable is not None:
            check(topo.cable, cable)
        results = run(lambda: runner.trace_region(topo, settings, what, cable))
    elif cable is not None:
        fail("--cable needs a region (a target is traced over whatever route it has)")
    else:
        results = run(lambda: runner.trace_targets([what], settings, topo))
    if as_json:
        render.print_json(out, [r.to_dict() for r in results])
    else:
        for table in render.trace_tables(results):
            out.print(table)
    raise typer.Exit(runner.exit_code(results))


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
    cfg = load(config)
    settings = runner.with_timeout(cfg.probe, "ttft", timeout)
    if runner.is_region(cfg.topology, what):
        if cable is not None:
            check(cfg.topology.cable, cable)
        results = run(lambda: runner.ttft_region(cfg.topology, settings, what, cable, count))
    elif cable is not None:
        fail("--cable needs a region")
    else:
        check(parse_url, what)
        results = run(lambda: runner.ttft_url(what, settings, count))
    report_results(results, as_json, cfg.topology)


def register(app: typer.Typer) -> None:
    for command in (ping, tcp, http, dns, probe, trace, ttft, stamp):
        app.command()(command)
