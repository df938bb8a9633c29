"""ICMP echo probing: one socket per address family shared by every probe in flight.

Why one socket: every raw ICMP socket receives a copy of every ICMP packet, so a socket per
target (icmplib's multiping) drowns in its neighbours' replies and reports loss that did not
happen. Here one socket per family serves all probes; replies are matched to requests by
(identifier, sequence), the source address and an engine-wide payload cookie. Times come from the
monotonic clock: taken just before ``sendto`` and as each reply is read. A reply that has not
arrived within ``timeout_s`` of its request is loss; if it turns up later it is counted as late
and never becomes an RTT (RFC 2681).

Privilege: raw sockets (root or CAP_NET_RAW) are tried first; then unprivileged ICMP datagram
sockets ("ping sockets", allowed by ``net.ipv4.ping_group_range``), where the kernel sets the
identifier. Neither: :class:`~cablewatch.errors.IcmpPermissionError` with what to do.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import secrets
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from cablewatch.errors import IcmpPermissionError
from cablewatch.probes import icmp_wire
from cablewatch.probes.result import ProbeResult, Status
from cablewatch.probes.stats import summarize
from cablewatch.probes.targets import ResolveFailure, resolve

__all__ = ["EngineStats", "IcmpEngine", "PingRound", "icmp_probe"]

# Linux socket options that Python's socket module does not always name.
_SOL_RAW = 255
_ICMP_FILTER = 1
_ICMP6_FILTER = 1
_IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
_IP_TTL = socket.IP_TTL
_IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
_IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
_ANC_SIZE = socket.CMSG_SPACE(4) * 2
_COOKIE_LEN = 8
_Address = tuple[str, int] | tuple[str, int, int, int]


@dataclass(slots=True)
class EngineStats:
    """Counters over the engine's lifetime (for self-health and benchmarks)."""

    sent: int = 0
    replies: int = 0
    late: int = 0
    """Replies that arrived after their request had timed out: counted as loss."""
    foreign: int = 0
    """Echo replies that matched no request of ours (other processes' pings on a raw socket)."""
    send_errors: int = 0


@dataclass(slots=True)
class PingRound:
    """RTTs of one round to one address, in sending order; None = lost."""

    address: str
    rtts_ms: list[float | None]
    ttl: int | None = None
    send_error: str = ""
    _left: int = 0
    _done: asyncio.Future[None] | None = None

    def _settle(self) -> None:
        self._left -= 1
        if self._left == 0 and self._done is not None and not self._done.done():
            self._done.set_result(None)


@dataclass(slots=True)
class _Pending:
    round: PingRound
    index: int
    tx_ns: int
    timeout_ns: int
    source: str
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _Channel:
    """One socket of one family, and the requests in flight on it."""

    sock: socket.socket
    v6: bool
    raw: bool
    identifier: int
    next_seq: int = 0
    pending: dict[tuple[int, int], _Pending] = field(default_factory=dict)

    def allocate(self) -> tuple[int, int]:
        """A free (identifier, sequence) key. Raw sockets move on to a new identifier per
        65,536 sequences; ping sockets have one identifier, set by the kernel."""
        for _ in range(1 << 16):
            seq = self.next_seq
            self.next_seq = (seq + 1) & 0xFFFF
            if self.next_seq == 0 and self.raw:
                self.identifier = (self.identifier + 1) & 0xFFFF
            key = (self.identifier, seq)
            if key not in self.pending:
                return key
        raise RuntimeError("65,536 ICMP requests in flight on one socket")


class IcmpEngine:
    """Async ICMP echo engine; use as ``async with IcmpEngine() as engine``.

    ``privileged``: True = raw sockets only, False = ping sockets only, None = raw if allowed,
    else ping sockets. ``rcvbuf_bytes``: receive buffer to ask for (forced past rmem_max when
    root), so that bursts of thousands of replies are not dropped inside this host.
    """

    def __init__(
        self, *, privileged: bool | None = None, rcvbuf_bytes: int = 16 * 1024 * 1024
    ) -> None:
        self.privileged = privileged
        self.rcvbuf_bytes = rcvbuf_bytes
        self.stats = EngineStats()
        self._channels: dict[bool, _Channel] = {}
        self._cookie = secrets.token_bytes(_COOKIE_LEN)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> IcmpEngine:
        self._loop = asyncio.get_running_loop()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for ch in self._channels.values():
            if self._loop is not None:
                self._loop.remove_reader(ch.sock.fileno())
            for p in ch.pending.values():
                if p.timer is not None:
                    p.timer.cancel()
                if p.round._done is not None and not p.round._done.done():
                    p.round._done.cancel()
            ch.pending.clear()
            ch.sock.close()
        self._channels.clear()

    @property
    def mode(self) -> str:
        """'raw', 'unprivileged', or 'unopened' (per family, joined)."""
        modes = {("raw" if ch.raw else "unprivileged") for ch in self._channels.values()}
        return "/".join(sorted(modes)) or "unopened"

    def open(self, v6: bool) -> None:
        """Open the family's socket now (else it opens on first use); raises on no permission."""
        self._channel(v6)

    def socket_drops(self) -> int:
        """Datagrams the kernel dropped on our sockets (receive buffer full): /proc/net/*."""
        total = 0
        for ch in self._channels.values():
            inode = os.fstat(ch.sock.fileno()).st_ino
            table = ("raw" if ch.raw else "icmp") + ("6" if ch.v6 else "")
            try:
                lines = Path("/proc/net", table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                cols = line.split()
                if len(cols) > 9 and cols[9] == str(inode):
                    total += int(cols[-1])
        return total

    # -- sockets ---------------------------------------------------------------------------

    def _channel(self, v6: bool) -> _Channel:
        ch = self._channels.get(v6)
        if ch is not None:
            return ch
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        ch = self._open(v6)
        self._channels[v6] = ch
        self._loop.add_reader(ch.sock.fileno(), self._on_readable, ch)
        return ch

    def _open(self, v6: bool) -> _Channel:
        family = socket.AF_INET6 if v6 else socket.AF_INET
        proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
        kinds = {True: [True], False: [False], None: [True, False]}[self.privileged]
        for raw in kinds:
            try:
                sock = socket.socket(family, socket.SOCK_RAW if raw else socket.SOCK_DGRAM, proto)
            except PermissionError:
                continue
            sock.setblocking(False)
            self._tune(sock, v6, raw)
            if raw:
                identifier = secrets.randbelow(1 << 16)
            else:
                sock.bind(("::", 0) if v6 else ("0.0.0.0", 0))
                identifier = sock.getsockname()[1]
            return _Channel(sock, v6, raw, identifier)
        raise IcmpPermissionError("IPv6" if v6 else "IPv4", os.getgid())

    def _tune(self, sock: socket.socket, v6: bool, raw: bool) -> None:
        for force, plain in ((_SO_RCVBUFFORCE, socket.SO_RCVBUF), (_SO_SNDBUFFORCE, None)):
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, self.rcvbuf_bytes)
            except PermissionError:
                if plain is not None:
                    sock.setsockopt(socket.SOL_SOCKET, plain, self.rcvbuf_bytes)
        if v6:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVHOPLIMIT, 1)
            if raw:  # pass only echo replies: a bitmap of 256 types, bit set = blocked
                blocked = [0xFFFFFFFF] * 8
                blocked[icmp_wire.ECHO_REPLY_V6 >> 5] &= ~(1 << (icmp_wire.ECHO_REPLY_V6 & 31))
                sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *blocked))
        elif raw:  # ICMP_FILTER: a 32-bit mask of blocked types; keep echo replies only
            mask = 0xFFFFFFFF & ~(1 << icmp_wire.ECHO_REPLY_V4)
            sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", mask))
        else:
            sock.setsockopt(socket.IPPROTO_IP, _IP_RECVTTL, 1)

    # -- receive path ----------------------------------------------------------------------

    def _on_readable(self, ch: _Channel) -> None:
        reply_type = icmp_wire.ECHO_REPLY_V6 if ch.v6 else icmp_wire.ECHO_REPLY_V4
        has_ip_header = ch.raw and not ch.v6
        while True:
            try:
                data, anc, _flags, addr = ch.sock.recvmsg(65535, _ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # a queued ICMP error on a ping socket: the timeout accounts for it
            rx_ns = time.monotonic_ns()
            echo = icmp_wire.parse_echo(data, has_ip_header=has_ip_header)
            if echo is None or echo.type != reply_type:
                continue
            if echo.payload[:_COOKIE_LEN] != self._cookie:
                self.stats.foreign += 1  # not ours: another process's ping on a raw socket
                continue
            key = (echo.identifier if ch.raw else ch.identifier, echo.sequence)
            pending = ch.pending.get(key)
            if pending is None:
                self.stats.late += 1  # its request already timed out: it stays lost
                continue
            if pending.source != addr[0].split("%", 1)[0]:
                self.stats.foreign += 1
                continue
            rtt_ns = rx_ns - pending.tx_ns
            if rtt_ns > pending.timeout_ns:
                self.stats.late += 1  # due to expire in this loop iteration: loss, not an RTT
                self._expire(ch, key)
                continue
            del ch.pending[key]
            if pending.timer is not None:
                pending.timer.cancel()
            self.stats.replies += 1
            rnd = pending.round
            rnd.rtts_ms[pending.index] = rtt_ns / 1e6
            rnd.ttl = echo.ttl if echo.ttl is not None else _ancillary_ttl(anc)
            rnd._settle()

    def _expire(self, ch: _Channel, key: tuple[int, int]) -> None:
        pending = ch.pending.pop(key, None)
        if pending is not None:
            if pending.timer is not None:
                pending.timer.cancel()
            pending.round._settle()  # rtts_ms[index] stays None: lost

    # -- send path -------------------------------------------------------------------------

    async def ping(
        self,
        address: str,
        *,
        count: int = 5,
        interval_s: float = 0.2,
        timeout_s: float = 2.0,
        payload_size: int = 56,
    ) -> PingRound:
        """Send ``count`` echo requests ``interval_s`` apart to an IP address; each packet waits
        up to ``timeout_s`` for its reply. Loss is data in the result, never an exception."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if timeout_s <= 0 or interval_s < 0:
            raise ValueError("timeout_s must be > 0 and interval_s >= 0")
        ip = ipaddress.ip_address(address)
        v6 = ip.version == 6
        ch = self._channel(v6)
        loop = asyncio.get_running_loop()
        rnd = PingRound(ip.compressed, [None] * count, _left=count, _done=loop.create_future())
        payload = self._cookie + bytes(max(0, payload_size - _COOKIE_LEN))
        dest = (rnd.address, 0, 0, 0) if v6 else (rnd.address, 0)
        timeout_ns = int(timeout_s * 1e9)
        start = loop.time()
        for i in range(count):
            if i:
                delay = start + i * interval_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            key = ch.allocate()
            packet = icmp_wire.build_echo(v6, key[0], key[1], payload)
            pending = _Pending(rnd, i, 0, timeout_ns, rnd.address)
            ch.pending[key] = pending
            try:
                pending.tx_ns = time.monotonic_ns()
                await self._send(ch, packet, dest)
            except OSError as exc:
                del ch.pending[key]
                self.stats.send_errors += 1
                rnd.send_error = os.strerror(exc.errno) if exc.errno else str(exc)
                rnd._settle()
                continue
            self.stats.sent += 1
            pending.timer = loop.call_later(timeout_s, self._expire, ch, key)
        assert rnd._done is not None
        await rnd._done
        return rnd

    async def _send(self, ch: _Channel, packet: bytes, dest: _Address) -> None:
        try:
            ch.sock.sendto(packet, dest)
        except BlockingIOError:
            await asyncio.get_running_loop().sock_sendto(ch.sock, packet, dest)
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:
                raise
            await asyncio.sleep(0.001)  # transient: the device queue is full; try once more
            ch.sock.sendto(packet, dest)


def _ancillary_ttl(anc: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in anc:
        if (level, kind) in ((socket.IPPROTO_IP, _IP_TTL), (socket.IPPROTO_IPV6, _IPV6_HOPLIMIT)):
            if len(data) >= 4:
                return int(struct.unpack("i", data[:4])[0])
            if data:
                return data[0]
    return None


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
    stamp = time.time_ns()
    try:
        address = await resolve(target, timeout_s=timeout_s)
    except ResolveFailure as exc:
        return ProbeResult(
            "icmp", target, "", stamp, "resolve_error", error=str(exc), labels=labels or {}
        )
    rnd = await engine.ping(address, count=count, interval_s=interval_s, timeout_s=timeout_s)
    summary = summarize(rnd.rtts_ms)
    status: Status
    if summary.received:
        status, error = "ok", ""
    elif rnd.send_error:
        status, error = "unreachable", rnd.send_error
    else:
        status, error = "loss", f"no reply to {summary.sent} echo requests within {timeout_s:g} s"
    return ProbeResult(
        "icmp",
        target,
        address,
        stamp,
        status,
        error=error,
        rtts_ms=tuple(rnd.rtts_ms),
        summary=summary,
        ttl=rnd.ttl,
        labels=labels or {},
    )
