"""A STAMP Session-Reflector (RFC 8762, unauthenticated, stateful) for landing stations
without a STAMP-capable router: ``cablewatch reflect``.

Per session (the sender's address, port and SSID) the reflector counts the packets it got,
from 0: its sequence number tells the sender which of its packets arrived (forward loss) and
which came back (reverse loss). Timestamps are the kernel's receive time (SO_TIMESTAMPNS) and
the wall clock just before the reply leaves; the sender's TTL comes from the kernel
(IP_RECVTTL / IPV6_RECVHOPLIMIT).

It is not a traffic amplifier: it answers only senders in its allow list (unless told to
answer anyone), never with more octets than it got, and not at all to a packet shorter than
a test packet. Sessions idle for ``SESSION_IDLE_S`` are forgotten, and at most
``MAX_SESSIONS`` are kept (the oldest go first).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import sys
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from cablewatch.probes import kernel_clock
from cablewatch.probes.stamp_wire import (
    SIZE,
    ReflectorPacket,
    build_reflector,
    parse_sender,
    stamped,
)

__all__ = ["MAX_SESSIONS", "SESSION_IDLE_S", "Reflector", "ReflectorStats"]

log = logging.getLogger("cablewatch.reflect")
SESSION_IDLE_S = 60.0
MAX_SESSIONS = 10_000
_IP_RECVTTL, _IP_TTL = getattr(socket, "IP_RECVTTL", 12), getattr(socket, "IP_TTL", 2)
_IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
_IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(slots=True)
class ReflectorStats:
    reflected: int = 0
    refused: int = 0
    """From a sender outside the allow list."""
    malformed: int = 0
    """Shorter than a test packet."""


@dataclass(slots=True)
class Reflector:
    allow: Sequence[Network] = ()
    """Senders answered; empty with ``allow_any`` False: nobody."""
    allow_any: bool = False
    error: int = 0
    """This reflector's error estimate field (stamp_wire.encode_error)."""
    stats: ReflectorStats = field(default_factory=ReflectorStats)
    _sessions: OrderedDict[tuple[str, int, int], tuple[int, float]] = field(
        default_factory=OrderedDict
    )

    def allowed(self, address: str) -> bool:
        if self.allow_any:
            return True
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # an IPv4 sender on a dual-stack socket
        return any(ip in net for net in self.allow)

    def answer(self, data: bytes, sender: tuple[str, int], receive_ns: int, ttl: int,
               now_ns: int) -> bytes | None:  # fmt: skip
        """The reply to one datagram (None: not answered); pure but for the session count."""
        if not self.allowed(sender[0]):
            self.stats.refused += 1
            return None
        try:
            got = parse_sender(data)
        except ValueError:
            self.stats.malformed += 1
            return None
        key = (sender[0], sender[1], got.ssid)
        seq, _seen = self._sessions.pop(key, (0, 0.0))
        self._sessions[key] = (seq + 1, now_ns / 1e9)
        self._forget(now_ns / 1e9)
        packet = ReflectorPacket(seq, now_ns, self.error, got.ssid, receive_ns, got.seq,
                                 got.timestamp_ns, got.error, ttl)  # fmt: skip
        reply = build_reflector(packet)
        self.stats.reflected += 1
        return reply + bytes(len(data) - SIZE)  # as long as the request, never longer

    def _forget(self, now_s: float) -> None:
        sessions = self._sessions
        while sessions:
            _seq, seen_s = next(iter(sessions.values()))
            if len(sessions) <= MAX_SESSIONS and now_s - seen_s <= SESSION_IDLE_S:
                return
            sessions.popitem(last=False)

    async def serve(self, host: str, port: int, stop: asyncio.Event,
                    ready: asyncio.Event | None = None) -> None:  # fmt: skip
        """Answer on ``host``:``port`` (UDP) until ``stop`` is set."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        with contextlib.closing(sock):
            sock.setblocking(False)
            kernel_clock.enable(sock)
            sock.setsockopt(socket.IPPROTO_IP, _IP_RECVTTL, 1)  # (IPv4 senders, dual stack too)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVHOPLIMIT, 1)
            sock.bind((host, port))
            log.info("STAMP reflector on %s port %d (%s)", host, port,
                     "any sender" if self.allow_any else
                     "senders in " + (", ".join(map(str, self.allow)) or "nothing"))  # fmt: skip
            loop = asyncio.get_running_loop()
            loop.add_reader(sock.fileno(), self._drain, sock)
            try:
                if ready is not None:
                    ready.set()
                await stop.wait()
            finally:
                loop.remove_reader(sock.fileno())

    def _drain(self, sock: socket.socket) -> None:
        while True:
            try:
                data, ancillary, _flags, sender = sock.recvmsg(65535, 256)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error for an earlier reply: not ours to keep
                log.debug("reflector: %s", exc)
                continue
            ttl = 0
            for level, kind, value in ancillary:
                if (level, kind) in ((socket.IPPROTO_IP, _IP_TTL),
                                     (socket.IPPROTO_IPV6, _IPV6_HOPLIMIT)):  # fmt: skip
                    ttl = int.from_bytes(value[:4], sys.byteorder) & 0xFF
            rx = kernel_clock.rx_wall_ns(ancillary) or time.time_ns()
            reply = self.answer(data, sender[:2], rx, ttl, rx)  # (its send time: below)
            if reply is not None:
                with contextlib.suppress(OSError):  # the sender gone: its next packet says
                    # the reflector's timestamp: as its reply leaves, the packing done
                    sock.sendto(stamped(reply, time.time_ns()), sender)
