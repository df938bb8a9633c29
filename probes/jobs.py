"""Run probe jobs: ad-hoc ICMP targets (CLI spot checks), a region's topology targets
(``probe REGION``) and the jobs an agent schedules. One definition of what probing a target
means; what differs by protocol comes from the registry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace

from cablewatch.errors import CablewatchError
from cablewatch.probes import stamp, stamp_wire
from cablewatch.probes.dns import dns_probe
from cablewatch.probes.http import http_probe, parse_url
from cablewatch.probes.icmp import icmp_probe
from cablewatch.probes.icmp_engine import IcmpEngine
from cablewatch.probes.registry import spec
from cablewatch.probes.result import ProbeResult
from cablewatch.probes.settings import ProbeSettings
from cablewatch.probes.spec import ProbeContext, ProbeJob
from cablewatch.probes.targets import ResolveFailure, parse_host_port, resolve
from cablewatch.probes.tcp import tcp_probe
from cablewatch.probes.traceroute import TraceSettings
from cablewatch.probes.ttft import TtftSettings, ttft_round
from cablewatch.topology.model import Topology

__all__ = [
    "ProbeJob",
    "dns_query",
    "exit_code",
    "http_urls",
    "is_region",
    "ping_targets",
    "probe_region",
    "region_jobs",
    "run_job",
    "stamp_targets",
    "tcp_targets",
    "trace_region",
    "trace_settings",
    "trace_targets",
    "ttft_region",
    "ttft_url",
    "with_timeout",
]


def exit_code(results: Sequence[ProbeResult]) -> int:
    """0 when every probe succeeded, 1 when any failed (full loss included)."""
    return 0 if results and all(r.success for r in results) else 1


def region_jobs(
    topology: Topology, settings: ProbeSettings, region: str, cable: str | None = None
) -> list[ProbeJob]:
    """Every (target, protocol) of ``region`` (over one cable, or all), in cable order; then,
    when no cable is named, the service path: the station's service address over whatever
    route the network picks (label ``path=service``, no cable)."""
    reg = topology.region(region)
    jobs = []
    station = topology.landing_station
    for t in topology.targets_for(reg.id, cable):
        labels = {
            "region": reg.id,
            "cable": t.cable,
            "landing_station": topology.landing_station.id,
        }
        jobs += [
            ProbeJob(p, t.address, labels, settings.protocols[p].interval_s) for p in t.protocols
        ]
    if cable is None and station.service_address:
        labels = {"region": reg.id, "cable": "", "landing_station": station.id, "path": "service"}
        jobs += [
            ProbeJob(p, station.service_address, labels, settings.protocols[p].interval_s)
            for p in station.service_protocols
        ]
    return jobs


async def run_job(job: ProbeJob, ctx: ProbeContext, settings: ProbeSettings) -> ProbeResult:
    """One probe of ``job``, with its protocol's settings."""
    run = spec(job.protocol).run
    return await run(ctx, job.address, settings.protocols[job.protocol], dict(job.labels))


async def ping_targets(
    targets: Sequence[str],
    *,
    count: int,
    interval_s: float,
    timeout_s: float,
    privileged: bool | None = None,
) -> list[ProbeResult]:
    """One round to each target, all at once over the engine's shared sockets."""
    async with IcmpEngine(privileged=privileged) as engine:
        probes = (
            icmp_probe(engine, t, count=count, interval_s=interval_s, timeout_s=timeout_s)
            for t in targets
        )
        return list(await asyncio.gather(*probes))


async def tcp_targets(targets: Sequence[str], *, timeout_s: float) -> list[ProbeResult]:
    """One TCP connect to each HOST:PORT, all at once."""
    return list(await asyncio.gather(*(tcp_probe(t, timeout_s=timeout_s) for t in targets)))


async def stamp_targets(targets: Sequence[str], *, count: int, interval_s: float,
                        timeout_s: float, clock_error_s: float | None = None,
                        topology: Topology | None = None,
                        region: str | None = None) -> list[ProbeResult]:  # fmt: skip
    """One STAMP round to each reflector (HOST or HOST:PORT, default port 862), all at once.
    With ``topology`` and ``region``: a target that is one of the region's topology targets
    is labelled with its cable, its one-way figures judged against that path's floor, and the
    cable its replies came back over named."""
    cables = {} if topology is None or region is None else {
        t.address: t.cable for t in topology.targets_for(region)}  # fmt: skip

    async def one(target: str) -> ProbeResult:
        host, port = parse_host_port(target, default_port=stamp_wire.PORT)
        try:
            address = await resolve(host, timeout_s=timeout_s)
        except ResolveFailure as exc:
            return ProbeResult(stamp.MEASUREMENT, target, "", time.time_ns(), "resolve_error",
                               str(exc))  # fmt: skip
        labels = {"region": topology.region(region).id, "cable": cables[address]} if (
            topology is not None and region is not None and address in cables) else {}  # fmt: skip
        result = await stamp.stamp_path(address, topology, labels, port=port, count=count,
                                        interval_s=interval_s, timeout_s=timeout_s,
                                        clock_error_s=clock_error_s)  # fmt: skip
        return replace(result, target=target)

    return list(await asyncio.gather(*(one(t) for t in targets)))


async def http_urls(urls: Sequence[str], *, timeout_s: float,
                    verify_tls: bool = True) -> list[ProbeResult]:  # fmt: skip
    """One GET of each URL, all at once, with its phases."""
    probes = (http_probe(u, timeout_s=timeout_s, verify_tls=verify_tls) for u in urls)
    return list(await asyncio.gather(*probes))


async def dns_query(name: str, server: str, *, record_type: str,
                    timeout_s: float) -> ProbeResult:  # fmt: skip
    """One query for ``name`` to ``server`` (ADDR[:PORT])."""
    return await dns_probe(name, server, record_type=record_type, timeout_s=timeout_s)


async def probe_region(
    topology: Topology, settings: ProbeSettings, region: str, cable: str | None = None
) -> list[ProbeResult]:
    """Probe every target of ``region`` (over one cable, or all) with each of its protocols;
    results are labelled region / cable / station."""
    jobs = region_jobs(topology, settings, region, cable)
    async with ProbeContext(topology=topology) as ctx:
        return list(await asyncio.gather(*(run_job(j, ctx, settings) for j in jobs)))


async def trace_region(
    topology: Topology, settings: ProbeSettings, region: str, cable: str | None = None
) -> list[ProbeResult]:
    """Trace each address ``region`` probes (over one cable, or all, then the service path),
    whichever protocols the topology lists for it; each trace attributed to its cable."""
    seen: set[tuple[str, str]] = set()
    jobs: list[ProbeJob] = []
    for job in region_jobs(topology, settings, region, cable):
        key = (job.address, job.labels["cable"])
        if key not in seen:
            seen.add(key)
            jobs.append(ProbeJob("trace", job.address, job.labels, job.interval_s))
    async with ProbeContext(topology=topology) as ctx:
        return list(await asyncio.gather(*(run_job(j, ctx, settings) for j in jobs)))


async def trace_targets(
    targets: Sequence[str], settings: ProbeSettings, topology: Topology | None = None
) -> list[ProbeResult]:
    """Trace ad-hoc targets (attributed to cables when a topology is given)."""
    jobs = [ProbeJob("trace", t, {}, 0.0) for t in targets]
    async with ProbeContext(topology=topology) as ctx:
        return list(await asyncio.gather(*(run_job(j, ctx, settings) for j in jobs)))


def is_region(topology: Topology, name: str) -> bool:
    """Whether ``name`` is one of the topology's regions (by id or name)."""
    try:
        topology.region(name)
    except CablewatchError:
        return False
    return True


def trace_settings(
    settings: ProbeSettings, *, mode: str, queries: int, max_hops: int, timeout_s: float
) -> ProbeSettings:
    """``settings`` with its trace protocol's mode, queries, hop limit and timeout replaced."""
    base = settings.of(TraceSettings)
    ts = replace(base, trace_mode=mode, trace_queries=queries, trace_max_hops=max_hops,
                 timeout_s=timeout_s)  # fmt: skip
    return replace(settings, protocols={**settings.protocols, "trace": ts})


async def ttft_region(
    topology: Topology, settings: ProbeSettings, region: str, cable: str | None, count: int
) -> list[ProbeResult]:
    """``count`` streamed requests, one after another, to each cable's target of ``region``
    (over one cable, or all; the cables at once), with the configured endpoint and floor."""
    seen: dict[tuple[str, str], ProbeJob] = {}
    for job in region_jobs(topology, settings, region, cable):
        if job.labels["cable"]:
            seen.setdefault((job.address, job.labels["cable"]),
                            ProbeJob("ttft", job.address, job.labels, job.interval_s))  # fmt: skip

    async def rounds(job: ProbeJob, ctx: ProbeContext) -> list[ProbeResult]:
        return [await run_job(job, ctx, settings) for _ in range(count)]

    async with ProbeContext(topology=topology) as ctx:
        per_job = await asyncio.gather(*(rounds(j, ctx) for j in seen.values()))
    return [r for results in per_job for r in results]


async def ttft_url(url: str, settings: ProbeSettings, count: int) -> list[ProbeResult]:
    """``count`` streamed requests to ``url``, one after another."""
    scheme, host, port, path = parse_url(url)
    s = settings.of(TtftSettings)
    return [await ttft_round(host, port, path=path, scheme=scheme, timeout_s=s.timeout_s)
            for _ in range(count)]  # fmt: skip


def with_timeout(settings: ProbeSettings, protocol: str, timeout_s: float) -> ProbeSettings:
    """``settings`` with one protocol's timeout replaced."""
    own = replace(settings.protocols[protocol], timeout_s=timeout_s)
    return replace(settings, protocols={**settings.protocols, protocol: own})
