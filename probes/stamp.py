"""STAMP Session-Sender (RFC 8762, unauthenticated): one-way delay in each direction, the round
trip without the reflector's own time, and loss per direction, to a STAMP reflector (a router
that speaks it, or ``cablewatch reflect``).

A round is a session of its own (a fresh UDP socket and SSID): ``count`` test packets
``interval_s`` apart, replies awaited until ``timeout_s`` after the last. Per reply:

    forward = T2 - T1   (the reflector's receive time - our send time)
    reverse = T4 - T3   (our receive time, the kernel's - the reflector's send time)
    round trip = (T4 - T1) - (T3 - T2)

The reflector counts the packets of a session it received, from 0; so up to the last packet
answered, a packet whose reply is missing was lost on the way out if the reflector's count
skipped it, on the way back if not. Packets after the last answered one cannot be told apart:
their loss is ``lost_unknown``. A reply that does not belong to the round (another SSID, a
sender timestamp we did not send, a packet too short) is not a measurement: it is counted in
``foreign`` and the packet stays lost if nothing else answers it.

One-way figures are only as good as both clocks: ``error_bound_ms`` is the sum of both ends'
error estimates (ours from the kernel's NTP state, the reflector's from its packets).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from dataclasses import dataclass, field

from cablewatch.probes.ntp_state import clock_error
from cablewatch.probes.stamp_wire import (
    SenderPacket,
    build_sender,
    decode_error,
    encode_error,
    parse_reflector,
)

__all__ = ["StampRound", "stamp_round"]

_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")


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
                      timeout_s: float = 1.0) -> StampRound:  # fmt: skip
    """One round (a session) to a reflector at ``address``:``port``; raises OSError when no
    packet can be sent (no route), as a TCP connect would."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    with contextlib.closing(sock):
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        sock.connect((address, port))  # replies from another address never reach us
        synced, error_s = clock_error()
        error = encode_error(error_s, synchronized=synced)
        ssid = random.randrange(1, 1 << 16)
        loop = asyncio.get_running_loop()
        out = StampRound(address, count, [None] * count, [None] * count, [None] * count,
                         sender_ttl=[None] * count)  # fmt: skip
        sent_ns: list[int] = []
        replies: dict[int, int] = {}  # our seq -> the reflector's
        got = asyncio.Event()
        reflector_error: list[tuple[bool, float]] = []

        def drain() -> None:
            while True:
                try:
                    data, ancillary, _flags, _addr = sock.recvmsg(2048, 64)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:  # ICMP port unreachable for an earlier packet: loss
                    continue
                _take(data, _kernel_time_ns(ancillary) or time.time_ns())
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
            t1, t2, t3 = sent_ns[k], p.receive_ns, p.timestamp_ns
            replies[k] = p.seq
            out.forward_ms[k] = (t2 - t1) / 1e6
            out.reverse_ms[k] = (t4 - t3) / 1e6
            out.rtt_ms[k] = ((t4 - t1) - (t3 - t2)) / 1e6
            out.sender_ttl[k] = p.sender_ttl
            reflector_error.append(decode_error(p.error))

        loop.add_reader(sock.fileno(), drain)
        try:
            start = loop.time()
            for k in range(count):
                await asyncio.sleep(max(0.0, start + k * interval_s - loop.time()))
                t1 = time.time_ns()
                sent_ns.append(t1)
                sock.send(build_sender(SenderPacket(k, t1, error, ssid)))
            deadline = loop.time() + timeout_s
            while len(replies) < count and (left := deadline - loop.time()) > 0:
                got.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(got.wait(), left)
        finally:
            loop.remove_reader(sock.fileno())
    _directions(out, replies)
    if reflector_error:
        their_sync = all(s for s, _e in reflector_error)
        their_error_s = max(e for _s, e in reflector_error)
        out.error_bound_ms = (error_s + their_error_s) * 1e3
        out.synchronized = synced and their_sync
    return out


def _kernel_time_ns(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    """When the kernel received the datagram (SO_TIMESTAMPNS), wall clock."""
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
            seconds, ns = _TIMESPEC.unpack_from(value)
            return int(seconds) * 1_000_000_000 + int(ns)
    return None


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
