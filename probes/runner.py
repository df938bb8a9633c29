"""Run probes: ad-hoc targets (CLI spot checks), a region's topology targets (``probe REGION``)
and the jobs an agent schedules. One definition of what probing a target means."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from cablewatch.probes.dns import dns_probe
from cablewatch.probes.http import http_probe
from cablewatch.probes.icmp import IcmpEngine, icmp_probe
from cablewatch.probes.result import ProbeResult
from cablewatch.probes.tcp import tcp_probe
from cablewatch.topology.model import ProbeSettings, Protocol, Topology

__all__ = ["ProbeJob", "exit_code", "ping_targets", "probe_region", "region_jobs", "run_job"]


def exit_code(results: Sequence[ProbeResult]) -> int:
    """0 when every probe succeeded, 1 when any failed (full loss included)."""
    return 0 if results and all(r.success for r in results) else 1


@dataclass(frozen=True, slots=True)
class ProbeJob:
    """One protocol against one target address, from one region over one cable."""

    protocol: Protocol
    address: str
    labels: dict[str, str]
    interval_s: float

    @property
    def series(self) -> str:
        return "|".join((self.protocol, self.labels["region"], self.labels["cable"], self.address))


def region_jobs(topology: Topology, region: str, cable: str | None = None) -> list[ProbeJob]:
    """Every (target, protocol) of ``region`` (over one cable, or all), in cable order."""
    reg = topology.region(region)
    s = topology.probe
    intervals = {
        "icmp": s.interval_s,
        "tcp": s.tcp_interval_s,
        "http": s.http_interval_s,
        "dns": s.dns_interval_s,
    }
    jobs = []
    for t in topology.targets_for(reg.id, cable):
        labels = {
            "region": reg.id,
            "cable": t.cable,
            "landing_station": topology.landing_station.id,
        }
        jobs += [ProbeJob(p, t.address, labels, intervals[p]) for p in t.protocols]
    return jobs


async def run_job(job: ProbeJob, engine: IcmpEngine, s: ProbeSettings) -> ProbeResult:
    host = f"[{job.address}]" if ":" in job.address else job.address
    labels = dict(job.labels)
    if job.protocol == "icmp":
        return await icmp_probe(
            engine, job.address, count=s.packets, interval_s=s.packet_interval_s,
            timeout_s=s.timeout_s, labels=labels,
        )  # fmt: skip
    if job.protocol == "tcp":
        return await tcp_probe(f"{host}:{s.tcp_port}", timeout_s=s.timeout_s, labels=labels)
    if job.protocol == "http":
        url = f"{s.http_scheme}://{host}:{s.http_port}{s.http_path}"
        return await http_probe(url, timeout_s=s.timeout_s, labels=labels)
    return await dns_probe(
        s.dns_name, f"{host}:{s.dns_port}", record_type=s.dns_type, timeout_s=s.timeout_s,
        labels=labels,
    )  # fmt: skip


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


async def probe_region(
    topology: Topology, region: str, cable: str | None = None
) -> list[ProbeResult]:
    """Probe every target of ``region`` (over one cable, or all) with each of its protocols,
    using the topology's probe settings; results are labelled region / cable / station."""
    jobs = region_jobs(topology, region, cable)
    async with IcmpEngine() as engine:
        return list(await asyncio.gather(*(run_job(j, engine, topology.probe) for j in jobs)))
