"""The ``icmp`` protocol: a round of echo requests to a target (loss, RTTs, jitter, TTL), sent
through the shared engine (probes/icmp_engine.py), stored as ``ping`` (one point a round) and
``ping_rtt`` (one a reply)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cablewatch.probes.buckets import EXCESS_BUCKETS, RTT_BUCKETS
from cablewatch.probes.icmp_engine import IcmpEngine, PingRound
from cablewatch.probes.result import ProbeResult, Status
from cablewatch.probes.spec import (
    DEFAULT_INTERVAL_S,
    DEFAULT_TIMEOUT_S,
    Column,
    CommonProbe,
    FieldValue,
    Metric,
    PathMetrics,
    Point,
    ProbeContext,
    ProbeSpec,
    common_fields,
    ms_cell,
)
from cablewatch.probes.stats import summarize
from cablewatch.probes.targets import ResolveFailure, resolve_all
from cablewatch.schema import Int, Num, Table

__all__ = [
    "MEASUREMENT",
    "REPLY_MEASUREMENT",
    "SPEC",
    "IcmpSettings",
    "engine",
    "icmp_probe",
    "icmp_probes",
]

MEASUREMENT = "ping"
"""One point per round: what fault detection and the SLA read (packets sent and received)."""
REPLY_MEASUREMENT = "ping_rtt"
"""One point per reply (``rtt_ms``): RTT percentiles."""


async def icmp_probe(
    engine: IcmpEngine,
    target: str,
    *,
    count: int = 5,
    interval_s: float = 0.2,
    timeout_s: float = 2.0,
    labels: dict[str, str] | None = None,
) -> ProbeResult:
    """Resolve ``target`` and ping it for one round; every outcome is a result."""
    (result,) = await icmp_probes(engine, [(target, labels or {})], count=count,
                                  interval_s=interval_s, timeout_s=timeout_s)  # fmt: skip
    return result


async def icmp_probes(
    engine: IcmpEngine,
    targets: Sequence[tuple[str, dict[str, str]]],
    *,
    count: int = 5,
    interval_s: float = 0.2,
    timeout_s: float = 2.0,
) -> list[ProbeResult]:
    """One round to each (target, labels) at once, sent like fping; a result for each, in
    order, every outcome included (a name that does not resolve is a ``resolve_error``)."""
    stamp = time.time_ns()
    addresses = await resolve_all([t for t, _labels in targets], timeout_s=timeout_s)
    found = [a for a in addresses if isinstance(a, str)]
    rounds = iter(
        await engine.ping_many(found, count=count, interval_s=interval_s, timeout_s=timeout_s)
        if found
        else ()
    )
    out = []
    for (target, labels), address in zip(targets, addresses, strict=True):
        if isinstance(address, ResolveFailure):
            out.append(ProbeResult("icmp", target, "", stamp, "resolve_error",
                                   error=str(address), labels=labels))  # fmt: skip
        else:
            out.append(_round_result(next(rounds), target, stamp, timeout_s, labels))
    return out


def _round_result(
    rnd: PingRound, target: str, stamp: int, timeout_s: float, labels: dict[str, str]
) -> ProbeResult:
    summary = summarize(rnd.rtts_ms)
    status: Status
    if summary.received:
        status, error = "ok", ""
    elif rnd.send_error:
        status, error = "unreachable", rnd.send_error
    else:
        status, error = "loss", f"no reply to {summary.sent} echo requests within {timeout_s:g} s"
    return ProbeResult("icmp", target, rnd.address, stamp, status, error=error,
                       rtts_ms=tuple(rnd.rtts_ms), summary=summary, ttl=rnd.ttl,
                       labels=labels)  # fmt: skip


@dataclass(frozen=True, slots=True)
class IcmpSettings:
    """``[probe]`` keys packets and packet_interval_s; rounds every interval_s."""

    packets: int = 5
    """Echo requests per round."""
    packet_interval_s: float = 0.2
    interval_s: float = DEFAULT_INTERVAL_S
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_table(cls, t: Table, common: CommonProbe) -> IcmpSettings:
        v = t.read(packets=Int(1, 1000), packet_interval_s=Num(0.001, 60))
        out = common.settings(cls, v)
        round_s = (out.packets - 1) * out.packet_interval_s + out.timeout_s
        if round_s > out.interval_s:
            t.problem(
                "interval_s",
                f"got {out.interval_s:g}, but a round of {out.packets} packets "
                f"{out.packet_interval_s:g} s apart with a {out.timeout_s:g} s timeout takes up "
                f"to {round_s:g} s: expected interval_s >= {round_s:g}",
            )
        return out


def engine(ctx: ProbeContext) -> IcmpEngine:
    """The context's ICMP engine: one per process (per namespace), whose sockets serve every
    probe in flight."""
    return ctx.shared("icmp", lambda: IcmpEngine(netns=ctx.netns))


def _start(ctx: ProbeContext) -> str:
    e = engine(ctx)
    e.open(v6=False)  # IcmpPermissionError now, not at the first round
    return f"ICMP through {e.mode} sockets"


async def _run(ctx: ProbeContext, address: str, s: IcmpSettings, labels: dict[str, str]) -> Any:
    return await icmp_probe(engine(ctx), address, count=s.packets, interval_s=s.packet_interval_s,
                            timeout_s=s.timeout_s, labels=labels)  # fmt: skip


async def _run_many(ctx: ProbeContext, targets: Sequence[tuple[str, dict[str, str]]],
                    s: IcmpSettings) -> list[ProbeResult]:  # fmt: skip
    return await icmp_probes(engine(ctx), targets, count=s.packets,
                             interval_s=s.packet_interval_s, timeout_s=s.timeout_s)  # fmt: skip


def _points(result: ProbeResult) -> list[Point]:
    """``ping``: one point per round (Telegraf's field names and ours); ``ping_rtt``: one per
    reply, packet i at the round's start + i ns."""
    s = result.summary
    fields: dict[str, FieldValue | None] = common_fields(result)
    if s is not None:
        fields |= {
            "packets_transmitted": s.sent,
            "packets_received": s.received,
            "percent_packet_loss": float(s.loss_pct),
            "minimum_response_ms": s.min_ms,
            "average_response_ms": s.avg_ms,
            "maximum_response_ms": s.max_ms,
            "standard_deviation_ms": s.stddev_ms,
            "median_response_ms": s.median_ms,
            "jitter_ms": s.jitter_ms,
            "ipdv_ms": s.ipdv_ms,
            "ttl": result.ttl,
        }
    points = [Point(MEASUREMENT, fields)]
    points += [
        Point(REPLY_MEASUREMENT, {"rtt_ms": rtt, "seq": i}, i)
        for i, rtt in enumerate(result.rtts_ms)
        if rtt is not None
    ]
    return points


def _stat(header: str, text: Any) -> Column:
    def cell(r: ProbeResult) -> str:
        return "-" if r.summary is None else str(text(r.summary))

    return Column(header, cell)


def _ttl(r: ProbeResult) -> str:
    return "-" if r.ttl is None or r.summary is None else str(r.ttl)


def _ms_stat(name: str) -> Column:
    return _stat(f"{name} ms", lambda s: ms_cell(getattr(s, f"{name}_ms")))


def _min_rtt(r: ProbeResult) -> float | None:
    return r.summary.min_ms if r.summary is not None else None


_RTT = "cablewatch_rtt_seconds"
_EXCESS = "cablewatch_rtt_excess_seconds"
_FLOOR = "cablewatch_path_floor_seconds"
_SENT, _RECEIVED = "cablewatch_ping_sent", "cablewatch_ping_received"
_LOSS, _LAST = "cablewatch_last_round_loss_ratio", "cablewatch_last_round_rtt_seconds"
METRICS = (
    Metric(_EXCESS, "histogram", "Round-trip time of each ICMP echo reply above the path's "
           "physics floor.", EXCESS_BUCKETS),
    Metric(_FLOOR, "gauge", "The path's physics floor: 2 x km x 4.9 us."),
    Metric(_RTT, "histogram", "Round-trip time of each ICMP echo reply.", RTT_BUCKETS),
    Metric(_SENT, "counter", "ICMP echo requests sent."),
    Metric(_RECEIVED, "counter", "ICMP echo replies received in time."),
    Metric(_LOSS, "gauge", "Loss of the last ICMP round (0-1)."),
    Metric(_LAST, "gauge", "RTT statistic of the last ICMP round.", extra=("stat",)),
)  # fmt: skip
"""Each reply's RTT in two histograms (absolute; above the path's floor, where a path without
a floor has none), packets sent and received, and the last round's loss and RTTs."""


def _observe(result: ProbeResult, m: PathMetrics) -> None:
    s = result.summary
    if s is None:  # the target did not resolve: no packet left
        return
    floor = m.floor_ms
    if floor is not None:
        m.set(_FLOOR, floor / 1000.0)
    for rtt in result.rtts_ms:
        if rtt is not None:
            m.observe(_RTT, rtt / 1000.0)
            if floor is not None:
                m.observe(_EXCESS, max(0.0, rtt - floor) / 1000.0)
    m.inc(_SENT, s.sent)
    m.inc(_RECEIVED, s.received)
    m.set(_LOSS, s.loss_pct / 100.0)
    for stat, value in (("min", s.min_ms), ("median", s.median_ms), ("max", s.max_ms)):
        if value is not None:
            m.set(_LAST, value / 1000.0, stat)


SPEC = ProbeSpec(
    protocol="icmp",
    settings=IcmpSettings.from_table,
    run=_run,
    points=_points,
    columns=(
        _stat("sent", lambda s: s.sent),
        _stat("recv", lambda s: s.received),
        _stat("loss%", lambda s: f"{s.loss_pct:.1f}"),
        *(_ms_stat(n) for n in ("min", "avg", "median", "max", "stddev", "jitter")),
        Column("ttl", _ttl),
    ),
    floor_rtt=_min_rtt,
    run_many=_run_many,
    start=_start,
    metrics=METRICS,
    observe=_observe,
)
