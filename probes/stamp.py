"""STAMP Session-Sender (RFC 8762, unauthenticated): one-way delay in each direction, the round
trip without the reflector's own time, and loss per direction, to a STAMP reflector (a router
that speaks it, or ``cablewatch reflect``).

A round is a session of its own (a fresh UDP socket and SSID): ``count`` test packets
``interval_s`` apart, replies awaited until ``timeout_s`` after the last. Per reply:

    forward = T2 - T1   (the reflector's receive time - our send time: the kernel's send
                         stamp where the device gives one, else the T1 in the packet)
    reverse = T4 - T3   (our receive time, the kernel's - the reflector's send time)
    round trip = (T4 - T1) - (T3 - T2)

The reflector counts the packets of a session it received, from 0; so up to the last packet
answered, a packet whose reply is missing was lost on the way out if the reflector's count
skipped it, on the way back if not. Packets after the last answered one cannot be told apart:
their loss is ``lost_unknown``. A reply that does not belong to the round (another SSID, a
sender timestamp we did not send, a packet too short) is not a measurement: it is counted in
``foreign`` and the packet stays lost if nothing else answers it.

One-way figures are only as good as both clocks: ``error_bound_ms`` is the sum of both ends'
error estimates (ours from the kernel's NTP state, the reflector's from its packets); a round
whose one-way delays fall outside [0, round trip] by more than that (a clock off by more than
it says) is never trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from cablewatch.probes import kernel_clock
from cablewatch.probes.ntp_state import clock_error
from cablewatch.probes.result import OneWay, ProbeResult, Status
from cablewatch.probes.spec import (
    DEFAULT_INTERVAL_S,
    DEFAULT_TIMEOUT_S,
    Column,
    CommonProbe,
    Metric,
    PathMetrics,
    Point,
    ProbeContext,
    ProbeSpec,
    common_fields,
    ms_cell,
)
from cablewatch.probes.stamp_wire import (
    PORT,
    SenderPacket,
    build_sender,
    decode_error,
    encode_error,
    parse_reflector,
    stamped,
)
from cablewatch.probes.stats import summarize
from cablewatch.schema import Int, Num, Table
from cablewatch.topology.attribution import return_cable
from cablewatch.topology.model import Region, Topology
from cablewatch.values import FieldValue, percentile

__all__ = [
    "MEASUREMENT",
    "SPEC",
    "StampRound",
    "StampSettings",
    "stamp_path",
    "stamp_probe",
    "stamp_round",
]

MEASUREMENT = "stamp"
"""One point per round: the round trip, each direction's delay and loss, the clocks' bound."""


@dataclass(slots=True)
class StampRound:
    address: str
    sent: int
    forward_ms: list[float | None] = field(default_factory=list)
    """Per packet, in sending order; None: no reply."""
    reverse_ms: list[float | None] = field(default_factory=list)
    rtt_ms: list[float | None] = field(default_factory=list)
    lost_forward: int = 0
    lost_reverse: int = 0
    lost_unknown: int = 0
    """Lost after the last packet answered: the direction cannot be told."""
    foreign: int = 0
    """Replies that were not this round's."""
    error_bound_ms: float | None = None
    """Both ends' clock error estimates, summed (None: no reply, the reflector's unknown)."""
    synchronized: bool = False
    """Both ends say their clock is synchronized to UTC."""
    sender_ttl: list[int | None] = field(default_factory=list)
    """The TTL our packets arrived with at the reflector."""

    @property
    def received(self) -> int:
        return sum(1 for r in self.rtt_ms if r is not None)


async def stamp_round(address: str, port: int, *, count: int = 5, interval_s: float = 0.2,
                      timeout_s: float = 1.0,
                      clock_error_s: float | None = None) -> StampRound:  # fmt: skip
    """One round (a session) to a reflector at ``address``:``port``; raises OSError when no
    packet can be sent (no route), as a TCP connect would. ``clock_error_s``: this host's
    clock error bound, synchronized (a configured bound); default: the kernel's NTP state."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    with contextlib.closing(sock):
        sock.setblocking(False)
        kernel_clock.enable(sock)
        kernel_clock.enable_tx(sock)
        sock.connect((address, port))  # replies from another address never reach us
        synced, error_s = clock_error() if clock_error_s is None else (True, clock_error_s)
        error = encode_error(error_s, synchronized=synced)
        ssid = random.randrange(1, 1 << 16)
        loop = asyncio.get_running_loop()
        out = StampRound(address, count, [None] * count, [None] * count, [None] * count,
                         sender_ttl=[None] * count)  # fmt: skip
        sent_ns: list[int] = []  # the clock read written into each packet
        tx_ns: dict[int, int] = {}  # the kernel's send stamp, where the device gave one
        times: dict[int, tuple[int, int, int]] = {}  # t2, t3, t4 of each packet answered
        replies: dict[int, int] = {}  # our seq -> the reflector's
        got = asyncio.Event()
        reflector_error: list[tuple[bool, float]] = []

        def drain() -> None:
            tx_ns.update(kernel_clock.tx_stamps(sock))
            while True:
                try:
                    data, ancillary, _flags, _addr = sock.recvmsg(2048, kernel_clock.TX_ANC_SIZE)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:  # ICMP port unreachable for an earlier packet: loss
                    continue
                _take(data, kernel_clock.rx_wall_ns(ancillary) or time.time_ns())
                got.set()

        def _take(data: bytes, t4: int) -> None:
            try:
                p = parse_reflector(data)
            except ValueError:
                out.foreign += 1
                return
            k = p.sender_seq
            if (p.ssid != ssid or k >= len(sent_ns) or p.sender_timestamp_ns != sent_ns[k]
                    or k in replies):  # fmt: skip
                out.foreign += 1
                return
            replies[k] = p.seq
            times[k] = (p.receive_ns, p.timestamp_ns, t4)
            out.sender_ttl[k] = p.sender_ttl
            reflector_error.append(decode_error(p.error))

        loop.add_reader(sock.fileno(), drain)
        try:
            start = loop.time()
            for k in range(count):
                packet = build_sender(SenderPacket(k, 0, error, ssid))
                await asyncio.sleep(max(0.0, start + k * interval_s - loop.time()))
                t1 = time.time_ns()
                sock.send(stamped(packet, t1))
                sent_ns.append(t1)
            deadline = loop.time() + timeout_s
            while len(replies) < count and (left := deadline - loop.time()) > 0:
                got.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(got.wait(), left)
        finally:
            loop.remove_reader(sock.fileno())
        tx_ns.update(kernel_clock.tx_stamps(sock))
    for k, (t2, t3, t4) in times.items():
        # sent when the kernel says, not when we read the clock before send(): a preemption
        # between the two is this host's, not the path's (the clock read is the fallback)
        t1 = max(sent_ns[k], min(tx_ns.get(k, 0), t4))
        out.forward_ms[k] = (t2 - t1) / 1e6
        out.reverse_ms[k] = (t4 - t3) / 1e6
        out.rtt_ms[k] = ((t4 - t1) - (t3 - t2)) / 1e6
    _directions(out, replies)
    if reflector_error:
        their_sync = all(s for s, _e in reflector_error)
        their_error_s = max(e for _s, e in reflector_error)
        out.error_bound_ms = (error_s + their_error_s) * 1e3
        out.synchronized = synced and their_sync
    return out


def _consistent(rnd: StampRound, bound_ms: float) -> bool:
    """Each one-way delay lies within [0, the round trip], give or take the clocks' claimed
    bound: a reflector whose clock is off by more than it says fails this on every packet."""
    for fwd, rev, rtt in zip(rnd.forward_ms, rnd.reverse_ms, rnd.rtt_ms, strict=True):
        if fwd is None or rev is None or rtt is None:
            continue
        if not (-bound_ms <= fwd <= rtt + bound_ms and -bound_ms <= rev <= rtt + bound_ms):
            return False
    return True


def _directions(out: StampRound, replies: dict[int, int]) -> None:
    """Loss per direction from the reflector's counts (see the module)."""
    if not replies:
        out.lost_unknown = out.sent
        return
    last = max(replies)
    reached = replies[last] + 1  # the reflector got this many of ours up to and with `last`
    out.lost_forward = max(0, last + 1 - reached)
    out.lost_reverse = max(0, reached - len(replies))
    out.lost_unknown = out.sent - 1 - last


async def stamp_probe(address: str, *, port: int = PORT, count: int = 5, interval_s: float = 0.2,
                      timeout_s: float = 1.0, labels: dict[str, str] | None = None,
                      clock_error_s: float | None = None, floor_one_way_ms: float | None = None,
                      max_error_pct: float = 10.0) -> ProbeResult:  # fmt: skip
    """One round as a probe result: ``rtts_ms`` the round trips (the reflector's time taken
    out), ``oneway`` each direction; "loss" when nothing came back, "unreachable" when no
    packet could leave. The one-way figures are trusted when both clocks' bound is at most
    ``max_error_pct`` % of the path's one-way floor (``floor_one_way_ms``)."""
    stamp = time.time_ns()
    labels = labels or {}
    try:
        rnd = await stamp_round(address, port, count=count, interval_s=interval_s,
                                timeout_s=timeout_s, clock_error_s=clock_error_s)  # fmt: skip
    except OSError as exc:
        return ProbeResult(MEASUREMENT, address, address, stamp, "unreachable",
                           exc.strerror or str(exc), labels=labels)  # fmt: skip
    summary = summarize(rnd.rtt_ms)
    status: Status = "ok" if summary.received else "loss"
    error = "" if summary.received else (
        f"no reply to {count} STAMP test packets within {timeout_s:g} s"
        + (f" ({rnd.foreign} foreign or malformed replies)" if rnd.foreign else ""))  # fmt: skip
    ttl = next((t for t in reversed(rnd.sender_ttl) if t is not None), None)
    bound = rnd.error_bound_ms
    trusted = (None if floor_one_way_ms is None or bound is None
               else bound <= max_error_pct / 100 * floor_one_way_ms)  # fmt: skip
    if bound is not None and not _consistent(rnd, bound):
        trusted = False  # the clocks disagree by more than they claim: never judged on
    oneway = OneWay(tuple(rnd.forward_ms), tuple(rnd.reverse_ms), rnd.lost_forward,
                    rnd.lost_reverse, rnd.lost_unknown, bound, rnd.synchronized, rnd.foreign,
                    trusted)  # fmt: skip
    return ProbeResult(MEASUREMENT, address, address, stamp, status, error,
                       rtts_ms=tuple(rnd.rtt_ms), summary=summary, ttl=ttl, labels=labels,
                       oneway=oneway)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StampSettings:
    """``[probe]`` keys stamp_port, stamp_packets, stamp_packet_interval_s and
    stamp_interval_s (default: interval_s)."""

    stamp_port: int = PORT
    stamp_packets: int = 5
    stamp_packet_interval_s: float = 0.2
    stamp_clock_error_ms: float | None = None
    """This host's clock error bound (a host whose clock a NOC knows, or the lab's one clock);
    default: the kernel's NTP state (adjtimex maxerror: 16 s when not synchronized)."""
    stamp_max_error_pct: float = 10.0
    """One-way figures are trusted (may judge a fault) when both clocks' bound is at most this
    much of the path's one-way floor; others are stored, flagged."""
    interval_s: float = DEFAULT_INTERVAL_S
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_table(cls, t: Table, common: CommonProbe) -> StampSettings:
        v = t.read(stamp_port=Int(1, 65535), stamp_packets=Int(1, 1000),
                   stamp_packet_interval_s=Num(0.001, 60), stamp_clock_error_ms=Num(0, 60_000),
                   stamp_max_error_pct=Num(0, 100, low_open=True),
                   stamp_interval_s=Num(low=0, low_open=True))  # fmt: skip
        out = common.settings(cls, v, "stamp_interval_s")
        if "stamp_packet_interval_s" not in v and out.stamp_packets > 1:
            # the default spacing, closer where the round would not fit the interval (a file
            # with 1 s rounds that names no stamp key must stay valid)
            room = (out.interval_s - out.timeout_s) / (out.stamp_packets - 1)
            if room < out.stamp_packet_interval_s:
                out = replace(out, stamp_packet_interval_s=max(0.001, room))
        round_s = (out.stamp_packets - 1) * out.stamp_packet_interval_s + out.timeout_s
        if round_s > out.interval_s:
            t.problem("stamp_interval_s",
                      f"got {out.interval_s:g}, but a round of {out.stamp_packets} packets "
                      f"{out.stamp_packet_interval_s:g} s apart with a {out.timeout_s:g} s "
                      f"timeout takes up to {round_s:g} s: expected stamp_interval_s >= "
                      f"{round_s:g}")  # fmt: skip
        return out


def _path(topology: Topology | None, labels: Mapping[str, str]) -> tuple[Region, str] | None:
    """The topology's region and cable of a result's labels (None: not one of its paths)."""
    if topology is None:
        return None
    region = next((r for r in topology.regions if r.id == labels.get("region")), None)
    cable = labels.get("cable", "")
    return (region, cable) if region is not None and cable in region.paths else None


async def stamp_path(address: str, topology: Topology | None, labels: dict[str, str], *,
                     port: int = PORT, count: int = 5, interval_s: float = 0.2,
                     timeout_s: float = 1.0, clock_error_s: float | None = None,
                     max_error_pct: float = 10.0) -> ProbeResult:  # fmt: skip
    """One round (``stamp_probe``) to the target of the path ``labels`` name in ``topology``:
    its one-way figures judged against the path's floor, and the cable its replies came back
    over named (neither when the labels name no path)."""
    found = _path(topology, labels)
    floor = None if found is None else found[0].paths[found[1]].one_way_ms
    result = await stamp_probe(address, port=port, count=count, interval_s=interval_s,
                               timeout_s=timeout_s, labels=labels, clock_error_s=clock_error_s,
                               floor_one_way_ms=floor, max_error_pct=max_error_pct)  # fmt: skip
    return _with_return(result, topology)


def _with_return(result: ProbeResult, topology: Topology | None) -> ProbeResult:
    """``result`` with the cable its replies came back over, when its one-way figures are
    trusted and it names a path of ``topology`` (the minimum delay each way)."""
    ow, found = result.oneway, _path(topology, result.labels)
    if ow is None or found is None or not ow.trusted:
        return result
    forward = [v for v in ow.forward_ms if v is not None]
    reverse = [v for v in ow.reverse_ms if v is not None]
    if not forward or not reverse:
        return result
    fit = return_cable(found[0], found[1], min(forward), min(reverse))
    return replace(result, oneway=replace(ow, return_cable=fit.cable, return_reason=fit.reason))


async def _run(ctx: ProbeContext, address: str, s: StampSettings,
               labels: dict[str, str]) -> ProbeResult:  # fmt: skip
    error_s = None if s.stamp_clock_error_ms is None else s.stamp_clock_error_ms / 1000
    return await stamp_path(address, ctx.topology, labels, port=s.stamp_port,
                            count=s.stamp_packets, interval_s=s.stamp_packet_interval_s,
                            timeout_s=s.timeout_s, clock_error_s=error_s,
                            max_error_pct=s.stamp_max_error_pct)  # fmt: skip


def _stats(prefix: str, values: tuple[float | None, ...]) -> dict[str, FieldValue | None]:
    got = [v for v in values if v is not None]
    if not got:
        return {}
    return {f"{prefix}_min_ms": min(got), f"{prefix}_median_ms": percentile(got, 50),
            f"{prefix}_p95_ms": percentile(got, 95)}  # fmt: skip


def _points(result: ProbeResult) -> list[Point]:
    fields: dict[str, FieldValue | None] = common_fields(result)
    s, ow = result.summary, result.oneway
    if s is not None and ow is not None:
        fields |= {"packets_transmitted": s.sent, "packets_received": s.received,
                   **_stats("rtt", result.rtts_ms), **_stats("forward", ow.forward_ms),
                   **_stats("reverse", ow.reverse_ms), "lost_forward": ow.lost_forward,
                   "lost_reverse": ow.lost_reverse, "lost_unknown": ow.lost_unknown,
                   "foreign": ow.foreign, "error_bound_ms": ow.error_bound_ms,
                   "synchronized": ow.synchronized, "oneway_trusted": ow.trusted,
                   "return_cable": ow.return_cable, "ttl": result.ttl}  # fmt: skip
    return [Point(MEASUREMENT, fields)]


_DELAY, _LOST = "cablewatch_stamp_delay_seconds", "cablewatch_stamp_lost"
_ERROR = "cablewatch_stamp_clock_error_seconds"
METRICS = (
    Metric(_DELAY, "gauge", "The last STAMP round's median delay, by direction (forward, "
           "reverse, round trip).", extra=("direction",)),
    Metric(_LOST, "counter", "STAMP test packets lost, by direction (forward, reverse, unknown).",
           extra=("direction",)),
    Metric(_ERROR, "gauge", "Both ends' clock error bound of the last STAMP round: one-way "
           "delays are no better than this."),
)  # fmt: skip


def _observe(result: ProbeResult, m: PathMetrics) -> None:
    ow = result.oneway
    if ow is None:
        return
    for direction, values in (("forward", ow.forward_ms), ("reverse", ow.reverse_ms),
                              ("round_trip", result.rtts_ms)):  # fmt: skip
        got = [v for v in values if v is not None]
        if got:
            m.set(_DELAY, percentile(got, 50) / 1000.0, direction)
    for direction, n in (("forward", ow.lost_forward), ("reverse", ow.lost_reverse),
                         ("unknown", ow.lost_unknown)):  # fmt: skip
        m.inc(_LOST, n, direction)
    if ow.error_bound_ms is not None:
        m.set(_ERROR, ow.error_bound_ms / 1000.0)


def _oneway_cell(direction: str) -> Column:
    def cell(r: ProbeResult) -> str:
        values = () if r.oneway is None else getattr(r.oneway, f"{direction}_ms")
        got = [v for v in values if v is not None]
        return ms_cell(percentile(got, 50) if got else None)

    return Column({"forward": "fwd ms", "reverse": "rev ms"}[direction], cell)


def _lost_cell(r: ProbeResult) -> str:
    ow = r.oneway
    return "-" if ow is None else f"{ow.lost_forward}/{ow.lost_reverse}/{ow.lost_unknown}"


def _back_cell(r: ProbeResult) -> str:
    """The cable the replies came back over ('-': not attributed)."""
    return "-" if r.oneway is None or r.oneway.return_cable is None else r.oneway.return_cable


def _clock_cell(r: ProbeResult) -> str:
    """Both clocks' bound; '!' marks one-way figures not trusted (the bound is large against
    the path's floor)."""
    ow = r.oneway
    if ow is None or ow.error_bound_ms is None:
        return "-"
    return ms_cell(ow.error_bound_ms) + ("!" if ow.trusted is False else "")


SPEC = ProbeSpec(
    protocol=MEASUREMENT,
    settings=StampSettings.from_table,
    run=_run,
    points=_points,
    columns=(
        Column("rtt ms", lambda r: ms_cell(r.summary.median_ms if r.summary else None)),
        _oneway_cell("forward"),
        _oneway_cell("reverse"),
        Column("lost f/r/?", _lost_cell),
        Column("back over", _back_cell),
        Column("clock ±ms", _clock_cell),
        Column("error", lambda r: r.error, right=False),
    ),
    metrics=METRICS,
    observe=_observe,
)
