"""Traceroute, Paris-style: every probe of a trace has the same flow identifier, so routers
that balance per flow keep the whole trace on one path (packets: probes/trace_wire.py).

Why our own engine and not scamper: a trace is a few dozen packets a minute per target, and it
must be timed like every other probe here (send time on the monotonic clock, the kernel's
receive timestamp), run inside the agent's namespace and privilege (CAP_NET_RAW, as the ICMP
engine has), and attribute its hops to cables against the topology as it finishes. A scamper
process per agent would add a daemon, a control socket and warts/JSON parsing for the same
packets. Tests check our hops against Debian's ``traceroute`` in the same namespace.

How a trace runs: probes go out TTL by TTL, a TTL's ``queries`` together, TTLs
``send_interval_s`` apart, at most 16 unanswered at a time (as traceroute); probes past the TTL
at which the destination answered are not sent. A probe with no answer within ``timeout_s`` is lost.
Each trace has its own raw ICMP socket (and, in UDP mode, its own source port), so traces in
flight at once never confuse their answers: replies are matched on (destination, identifier or
port, sequence or checksum).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import aiodns

from cablewatch.probes import kernel_clock, namespace, trace_wire
from cablewatch.probes.result import Hop, ProbeResult, Status, Trace
from cablewatch.probes.spec import (
    Column,
    CommonProbe,
    FieldValue,
    Point,
    ProbeContext,
    ProbeSpec,
    common_fields,
    ms_cell,
)
from cablewatch.probes.targets import ResolveFailure, resolve
from cablewatch.schema import Int, Num, Str, Table
from cablewatch.topology.attribution import HopSeen, attribute
from cablewatch.values import percentile

__all__ = ["MEASUREMENT", "SPEC", "TraceSettings", "trace"]

MEASUREMENT = "trace"
"""One point per trace (route_cable, hops, reached, ...); ``trace_hop``: one per hop."""

_SOL_RAW = 255
_ICMP_FILTER = 1
_COOKIE = b"cablewch"
_NAME_TTL_S = 600.0
_WINDOW = 16
"""Unanswered probes in flight at most."""
_names: dict[str, tuple[str, float]] = {}
"""Reverse names by address, with when they were looked up (monotonic)."""
_flows_in_use: set[tuple[int, int]] = set()


@dataclass(frozen=True, slots=True)
class TraceSettings:
    """``[probe]`` keys trace_*: a trace per target every trace_interval_s (default 60 s)."""

    trace_mode: str = "icmp"
    trace_queries: int = 3
    trace_max_hops: int = 30
    trace_udp_port: int = 33434
    trace_send_interval_s: float = 0.002
    interval_s: float = 60.0
    timeout_s: float = 2.0

    @classmethod
    def from_table(cls, t: Table, common: CommonProbe) -> TraceSettings:
        v = t.read(
            trace_mode=Str(choices=("icmp", "udp")),
            trace_queries=Int(1, 10),
            trace_max_hops=Int(1, 64),
            trace_udp_port=Int(1, 65535),
            trace_send_interval_s=Num(0, 1),
            trace_interval_s=Num(low=0.01),
        )
        interval_s = v.pop("trace_interval_s", 60.0)
        return cls(**v, interval_s=interval_s, timeout_s=common.timeout_s)


@dataclass(slots=True)
class _Probe:
    ttl: int
    query: int
    tx_ns: int
    deadline_ns: int


@dataclass(slots=True)
class _Answer:
    source: str
    rtt_ms: float | None
    kind: int
    code: int


class _Tracer:
    """One trace in flight: its sockets, its probes and what answered them."""

    def __init__(self, address: str, s: TraceSettings, netns: str | None) -> None:
        self.address = address
        self.s = s
        self.probes: dict[int, _Probe] = {}
        self.answers: dict[tuple[int, int], _Answer] = {}
        self.dest_ttl: int | None = None
        self.changed = asyncio.Event()
        self.udp_src = ""
        self.sport = 0
        self._socks: list[socket.socket] = []
        with namespace.netns(netns):
            self.icmp = self._sock(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            if s.trace_mode == "udp":
                self.raw_udp = self._sock(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
                # A bound, connected UDP socket holds our source port and says which source
                # address the kernel routes from; nothing is sent on it.
                self.holder = self._sock(socket.AF_INET, socket.SOCK_DGRAM, 0)
                self.holder.connect((address, s.trace_udp_port))
                self.udp_src, self.sport = self.holder.getsockname()
        self.icmp.setblocking(False)
        kernel_clock.enable(self.icmp)
        wanted = (1 << 0) | (1 << trace_wire.DEST_UNREACHABLE) | (1 << trace_wire.TIME_EXCEEDED)
        self.icmp.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", 0xFFFFFFFF & ~wanted))
        self.flow = self.sport if s.trace_mode == "udp" else self._identifier()

    def _sock(self, family: int, kind: int, proto: int) -> socket.socket:
        sock = socket.socket(family, kind, proto)
        self._socks.append(sock)
        return sock

    def _identifier(self) -> int:
        for _ in range(1000):
            ident = secrets.randbelow(0xFFFF) + 1
            if (1, ident) not in _flows_in_use:
                _flows_in_use.add((1, ident))
                return ident
        raise RuntimeError("no free ICMP identifier for a trace")

    def close(self) -> None:
        _flows_in_use.discard((1, self.flow))
        for sock in self._socks:
            sock.close()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.icmp.fileno(), self._on_readable)
        try:
            await self._send_all()
            await self._wait()
        finally:
            loop.remove_reader(self.icmp.fileno())

    async def _send_all(self) -> None:
        s = self.s
        key = 0
        for ttl in range(1, s.trace_max_hops + 1):
            await self._room(s.trace_queries)
            if self.dest_ttl is not None and ttl > self.dest_ttl:
                break
            for query in range(s.trace_queries):  # a TTL's queries together, as traceroute
                key += 1
                self._send(key, ttl, query)
            await asyncio.sleep(s.trace_send_interval_s)

    async def _room(self, wanted: int) -> None:
        """Wait until ``wanted`` more probes keep at most _WINDOW unanswered in flight (as
        traceroute -N 16): past the destination, a burst of probes would all answer at once,
        and hosts rate-limit their ICMP errors (icmp_msgs_burst), so answers would vanish."""
        while True:
            now = time.monotonic_ns()
            flying = [p.deadline_ns for p in self.probes.values()
                      if (p.ttl, p.query) not in self.answers and p.deadline_ns > now]  # fmt: skip
            if len(flying) + wanted <= _WINDOW or self.dest_ttl is not None:
                return
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), (min(flying) - now) / 1e9)

    def _send(self, key: int, ttl: int, query: int) -> None:
        if self.s.trace_mode == "udp":
            packet = trace_wire.paris_udp(self.udp_src, self.address, self.sport,
                                          self.s.trace_udp_port, ttl, key, _COOKIE)  # fmt: skip
            sock, dest = self.raw_udp, (self.address, 0)
        else:
            packet = trace_wire.paris_echo(self.flow, key, _COOKIE)
            self.icmp.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            sock, dest = self.icmp, (self.address, 0)
        tx = time.monotonic_ns()
        self.probes[key] = _Probe(ttl, query, tx, tx + int(self.s.timeout_s * 1e9))
        with contextlib.suppress(OSError):  # e.g. no route: the probe stays unanswered
            sock.sendto(packet, dest)

    async def _wait(self) -> None:
        while True:
            outstanding = [
                p for k, p in self.probes.items()
                if (p.ttl, p.query) not in self.answers
                and (self.dest_ttl is None or p.ttl <= self.dest_ttl)
            ]  # fmt: skip
            if not outstanding:
                return
            left_s = (max(p.deadline_ns for p in outstanding) - time.monotonic_ns()) / 1e9
            if left_s <= 0:
                return
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left_s)

    def _on_readable(self) -> None:
        offset = kernel_clock.offset_ns()
        while True:
            try:
                data, anc, _flags, addr = self.icmp.recvmsg(2048, kernel_clock.ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            now = time.monotonic_ns()
            reply = trace_wire.parse_reply(data, addr[0])
            if reply is None or reply.destination != self.address or reply.flow != self.flow:
                continue
            if reply.protocol != (17 if self.s.trace_mode == "udp" else 1):
                continue
            if reply.protocol == 17 and reply.port != self.s.trace_udp_port:
                continue
            probe = self.probes.get(reply.key)
            if probe is None or (probe.ttl, probe.query) in self.answers:
                continue
            rx = kernel_clock.rx_monotonic_ns(anc, offset)
            if rx is None or not probe.tx_ns <= rx <= now:
                rx = now
            rtt = (rx - probe.tx_ns) / 1e6 if rx <= probe.deadline_ns else None
            self.answers[(probe.ttl, probe.query)] = _Answer(reply.source, rtt, reply.kind,
                                                             reply.code)  # fmt: skip
            final = reply.kind == 0 or reply.kind == trace_wire.DEST_UNREACHABLE
            if final and (self.dest_ttl is None or probe.ttl < self.dest_ttl):
                self.dest_ttl = probe.ttl
            self.changed.set()

    def hops(self) -> tuple[tuple[Hop, ...], bool]:
        """The hops up to the destination (or the last that answered), and whether the
        destination itself answered."""
        last = self.dest_ttl or max((t for (t, _q), a in self.answers.items()
                                     if a.rtt_ms is not None), default=0)  # fmt: skip
        out: list[Hop] = []
        reached = False
        for ttl in range(1, last + 1):
            got = [self.answers.get((ttl, q)) for q in range(self.s.trace_queries)]
            rtts = tuple(a.rtt_ms if a is not None else None for a in got)
            sources = Counter(a.source for a in got if a is not None and a.rtt_ms is not None)
            ranked = [s for s, _n in sources.most_common()]
            flag = ""
            for a in got:
                if a is not None and a.kind == trace_wire.DEST_UNREACHABLE:
                    flag = trace_wire.unreachable_flag(a.code)
                if a is not None and a.rtt_ms is not None and a.source == self.address:
                    reached = (
                        reached
                        or a.kind == 0
                        or (a.kind == trace_wire.DEST_UNREACHABLE and not flag)
                    )
            address = ranked[0] if ranked else ""
            out.append(Hop(ttl, address, rtts, others=tuple(ranked[1:]), flag=flag))
        return tuple(out), reached


async def _names_of(addresses: list[str], timeout_s: float = 0.5) -> dict[str, str]:
    """Reverse names ('' none), through c-ares (hosts file, then DNS; no threads left behind
    on a name server that does not answer), cached for 10 minutes."""
    now = time.monotonic()
    out = {a: c[0] for a in addresses if (c := _names.get(a)) and now - c[1] < _NAME_TTL_S}
    todo = sorted(set(addresses) - set(out))
    if not todo:
        return out
    resolver = aiodns.DNSResolver(timeout=timeout_s, tries=1)
    try:
        got = await asyncio.gather(*(resolver.gethostbyaddr(a) for a in todo),
                                   return_exceptions=True)  # fmt: skip
    finally:
        await resolver.close()
    for address, answer in zip(todo, got, strict=True):
        name = "" if isinstance(answer, BaseException) else str(answer.name)
        _names[address] = (name, now)
        out[address] = name
    return out


async def trace(
    target: str,
    s: TraceSettings | None = None,
    *,
    netns: str | None = None,
    labels: dict[str, str] | None = None,
    names: bool = True,
) -> ProbeResult:
    """Trace the path to ``target``. Raw sockets (root or CAP_NET_RAW) are needed."""
    s = s or TraceSettings()
    labels = labels or {}
    stamp = time.time_ns()
    try:
        address = await resolve(target, timeout_s=s.timeout_s, family=socket.AF_INET)
    except ResolveFailure as exc:
        return ProbeResult("trace", target, "", stamp, "resolve_error", str(exc), labels=labels)
    try:
        tracer = _Tracer(address, s, netns)
    except PermissionError:
        return ProbeResult("trace", target, address, stamp, "protocol_error",
                           "traceroute needs raw sockets: run as root or with CAP_NET_RAW",
                           labels=labels)  # fmt: skip
    except OSError as exc:
        return ProbeResult("trace", target, address, stamp, "unreachable",
                           exc.strerror or str(exc), labels=labels)  # fmt: skip
    try:
        await tracer.run()
    finally:
        tracer.close()
    hops, reached = tracer.hops()
    if names:
        by_address = await _names_of([h.address for h in hops if h.address])
        hops = tuple(replace(h, name=by_address.get(h.address, "")) for h in hops)
    status: Status = "ok" if reached else ("unreachable" if hops and hops[-1].flag else "timeout")
    error = "" if reached else (
        f"{address} not reached within {s.trace_max_hops} hops"
        + (f" ({hops[-1].flag} from {hops[-1].address})" if hops and hops[-1].flag else "")
    )  # fmt: skip
    last = hops[-1] if hops and reached else None
    return ProbeResult(
        "trace", target, address, stamp, status, error,
        rtts_ms=last.rtts_ms if last is not None else (),
        labels=labels, trace=Trace(s.trace_mode, hops, reached),
    )  # fmt: skip


def attributed(result: ProbeResult, ctx: ProbeContext) -> ProbeResult:
    """``result`` with its cable and wet segment, by the context's topology."""
    tr = result.trace
    if tr is None or ctx.topology is None or not tr.hops:
        return result
    seen = [HopSeen(h.ttl, h.address, h.name, h.min_ms) for h in tr.hops]
    att = attribute(ctx.topology, result.labels.get("region", ""), seen)
    hops = tuple(replace(h, cable=c) for h, c in zip(tr.hops, att.hop_cables, strict=True))
    return replace(result, trace=replace(tr, hops=hops, cable=att.cable, wet=att.wet,
                                         wet_jump_ms=att.wet_jump_ms))  # fmt: skip


async def _run(ctx: ProbeContext, address: str, s: TraceSettings, labels: dict[str, str]) -> Any:
    # Traces of many targets start together on an agent's schedule; a little jitter keeps
    # their bursts from lining up at the first router.
    await asyncio.sleep(random.uniform(0, 0.05))
    result = await trace(address, s, netns=ctx.netns, labels=labels)
    return attributed(result, ctx)


def _points(result: ProbeResult) -> list[Point]:
    """One ``trace`` point per trace, and a ``trace_hop`` point per hop at +ttl ns."""
    tr = result.trace
    fields: dict[str, FieldValue | None] = common_fields(result)
    if tr is None:  # it failed before a packet left (a name that does not resolve)
        fields |= {"reached": False, "hop_count": 0, "route_cable": "unknown", "hops": ""}
        return [Point(MEASUREMENT, fields)]
    last = tr.hops[-1] if tr.hops and tr.reached else None
    fields |= {  # reached, route_cable and hops are always there: readers wait for them
        "mode": tr.mode,
        "reached": tr.reached,
        "hop_count": len(tr.hops),
        "route_cable": tr.cable or "unknown",
        "hops": tr.sequence,
        "rtt_ms": last.min_ms if last is not None else None,
        "wet_from_ttl": tr.wet[0] if tr.wet else None,
        "wet_to_ttl": tr.wet[1] if tr.wet else None,
        "wet_jump_ms": tr.wet_jump_ms,
    }
    points = [Point(MEASUREMENT, fields)]
    for h in tr.hops:
        got = h.received
        points.append(Point("trace_hop", {
            "ttl": h.ttl,
            "address": h.address or None,
            "name": h.name or None,
            "sent": len(h.rtts_ms),
            "received": len(got),
            "loss_pct": round(h.loss_pct, 3),
            "rtt_min_ms": min(got) if got else None,
            "rtt_median_ms": percentile(got, 50) if got else None,
            "rtt_max_ms": max(got) if got else None,
            "cable": h.cable or None,
            "wet": tr.wet is not None and h.ttl == tr.wet[1],
            "flag": h.flag or None,
        }, offset_ns=h.ttl))  # fmt: skip
    return points


def _route(r: ProbeResult) -> str:
    tr = r.trace
    if tr is None:
        return "-"
    wet = (
        f", wet {tr.wet[0]}-{tr.wet[1]} +{tr.wet_jump_ms:.1f} ms"
        if tr.wet and tr.wet_jump_ms
        else ""
    )
    return f"{tr.cable or '-'}{wet}"


SPEC = ProbeSpec(
    protocol="trace",
    settings=TraceSettings.from_table,
    run=_run,
    points=_points,
    columns=(
        Column("hops", lambda r: str(len(r.trace.hops)) if r.trace else "-"),
        Column(
            "dest ms", lambda r: ms_cell(min((x for x in r.rtts_ms if x is not None), default=None))
        ),
        Column("route", _route, right=False),
        Column("error", lambda r: r.error, right=False),
    ),
)
