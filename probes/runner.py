"""Run probes concurrently: ad-hoc targets (CLI spot checks) or a region's topology targets."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from cablewatch.probes.dns import dns_probe
from cablewatch.probes.http import http_probe
from cablewatch.probes.icmp import IcmpEngine, icmp_probe
from cablewatch.probes.result import ProbeResult
from cablewatch.probes.tcp import tcp_probe
from cablewatch.topology.model import Topology

__all__ = ["exit_code", "ping_targets", "probe_region"]


def exit_code(results: Sequence[ProbeResult]) -> int:
    """0 when every probe succeeded, 1 when any failed (full loss included)."""
    return 0 if results and all(r.success for r in results) else 1


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
        return list(
            await asyncio.gather(
                *(
                    icmp_probe(engine, t, count=count, interval_s=interval_s, timeout_s=timeout_s)
                    for t in targets
                )
            )
        )


async def probe_region(
    topology: Topology, region: str, cable: str | None = None
) -> list[ProbeResult]:
    """Probe every target of ``region`` (over one cable, or all) with each of its protocols,
    using the topology's probe settings; results are labelled region / cable / station."""
    reg = topology.region(region)
    settings = topology.probe
    targets = topology.targets_for(reg.id, cable)
    async with IcmpEngine() as engine:
        jobs = []
        for t in targets:
            labels = {
                "region": reg.id,
                "cable": t.cable,
                "landing_station": topology.landing_station.id,
            }
            host = f"[{t.address}]" if ":" in t.address else t.address
            for proto in t.protocols:
                if proto == "icmp":
                    jobs.append(
                        icmp_probe(
                            engine,
                            t.address,
                            count=settings.packets,
                            interval_s=settings.packet_interval_s,
                            timeout_s=settings.timeout_s,
                            labels=labels,
                        )
                    )
                elif proto == "tcp":
                    jobs.append(
                        tcp_probe(
                            f"{host}:{settings.tcp_port}",
                            timeout_s=settings.timeout_s,
                            labels=labels,
                        )
                    )
                elif proto == "http":
                    url = (
                        f"{settings.http_scheme}://{host}:{settings.http_port}{settings.http_path}"
                    )
                    jobs.append(http_probe(url, timeout_s=settings.timeout_s, labels=labels))
                else:
                    jobs.append(
                        dns_probe(
                            settings.dns_name,
                            f"{host}:{settings.dns_port}",
                            record_type=settings.dns_type,
                            timeout_s=settings.timeout_s,
                            labels=labels,
                        )
                    )
        return list(await asyncio.gather(*jobs))
