"""Survey the lab: one ICMP round from every region over every cable, at once.

Each region's engine opens its socket inside that region's namespace, so the packets leave from
the region's probe host and take the cable chosen by their destination."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cablewatch.probes.icmp_engine import IcmpEngine
from cablewatch.probes.result import ProbeResult, Status
from cablewatch.probes.stats import summarize

__all__ = ["survey"]


async def survey(
    state: dict[str, Any], *, count: int = 10, interval_s: float = 0.05, timeout_s: float = 1.0
) -> list[ProbeResult]:
    """Results labelled region / cable / floor_rtt_ms, in the lab's path order."""
    paths = state["paths"]
    regions = list(dict.fromkeys(p["region"] for p in paths))
    engines = {r: IcmpEngine(netns=state["region_ns"][r]) for r in regions}
    stamp = time.time_ns()
    try:
        rounds = await asyncio.gather(
            *(
                engines[r].ping_many(
                    [p["target"] for p in paths if p["region"] == r],
                    count=count,
                    interval_s=interval_s,
                    timeout_s=timeout_s,
                )
                for r in regions
            )
        )
    finally:
        for engine in engines.values():
            engine.close()
    by_path = {
        (r, p["cable"]): rnd
        for r, per_region in zip(regions, rounds, strict=True)
        for p, rnd in zip([p for p in paths if p["region"] == r], per_region, strict=True)
    }
    results = []
    for p in paths:
        rnd = by_path[(p["region"], p["cable"])]
        summary = summarize(rnd.rtts_ms)
        status: Status = "ok" if summary.received else "loss"
        results.append(
            ProbeResult(
                "icmp",
                p["target"],
                p["target"],
                stamp,
                status,
                rtts_ms=tuple(rnd.rtts_ms),
                summary=summary,
                ttl=rnd.ttl,
                labels={
                    "region": p["region"],
                    "cable": p["cable"],
                    "floor_rtt_ms": f"{p['floor_rtt_ms']:.3f}",
                },
            )
        )
    return results
