"""The ICMP echo engine: one socket per address family shared by every probe in flight.

Why one socket: every raw ICMP socket receives a copy of every ICMP packet, so a socket per
target (icmplib's multiping) drowns in its neighbours' replies and reports loss that did not
happen. Here one socket per family serves all probes; replies are matched to requests by
(identifier, sequence), the source address and an engine-wide payload cookie.

Timing: the send time is read from the monotonic clock just before ``sendto``. The receive time
is the kernel's (``SO_TIMESTAMPNS``, taken as the reply reached the socket, so a busy event loop
does not inflate RTTs), moved onto the monotonic timeline by the realtime-monotonic offset sampled
as it is read. Should the wall clock step in between, the result would fall outside
[send time, now]; then the read time is used instead. A reply that has not arrived within
``timeout_s`` of its request is loss; one that turns up later is counted as late and never becomes
an RTT (RFC 2681).

Privilege: raw sockets (root or CAP_NET_RAW) are tried first; then unprivileged ICMP datagram
sockets ("ping sockets", allowed by ``net.ipv4.ping_group_range``), where the kernel sets the
identifier. Neither: :class:`~cablewatch.errors.IcmpPermissionError` with what to do.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import itertools
import os
import secrets
import socket
import struct
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cablewatch.errors import IcmpPermissionError
from cablewatch.probes import icmp_wire, kernel_clock, namespace

__all__ = ["EngineStats", "IcmpEngine", "PingRound"]

# Linux socket options that Python's socket module does not always name.
_SOL_RAW = 255
_ICMP_FILTER = 1
_ICMP6_FILTER = 1
_IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
_IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
_IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
_SO_TIMESTAMPNS = kernel_clock.SO_TIMESTAMPNS
_SOL_SOCKET = socket.SOL_SOCKET
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
_ANC_SIZE = kernel_clock.ANC_SIZE + socket.CMSG_SPACE(4) * 2
_TTL_CMSG = {(socket.IPPROTO_IP, socket.IP_TTL), (socket.IPPROTO_IPV6, _IPV6_HOPLIMIT)}
_TIMESPEC = kernel_clock.TIMESPEC
_ID_SEQ = struct.Struct("!HH")
_HEADER = struct.Struct("!BBHHH")
_COOKIE_LEN = 8
_ECHO_V4, _ECHO_V6 = icmp_wire.ECHO_REQUEST_V4, icmp_wire.ECHO_REQUEST_V6
_ECHO_V4_WORD = _ECHO_V4 << 8  # the type/code word's share of the checksum
_YIELD_EVERY = 256  # sends in a row before the sender drains the receive queue itself
_Address = tuple[str, int] | tuple[str, int, int, int]
_Key = tuple[int, int]


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
    clock_fallbacks: int = 0
    """Replies timed at read time because the kernel timestamp was missing or implausible."""


@dataclass(slots=True)
class _Batch:
    """The rounds of one ``ping_many`` call: packets still unsettled, and one future for all."""

    done: asyncio.Future[None]
    left: int = 0

    def settle(self) -> None:
        self.left -= 1
        if not self.left and not self.done.done():
            self.done.set_result(None)


@dataclass(slots=True)
class PingRound:
    """RTTs of one round to one address, in sending order; None = lost."""

    address: str
    rtts_ms: list[float | None]
    ttl: int | None = None
    send_error: str = ""
    _batch: _Batch | None = None


@dataclass(slots=True)
class _Pending:
    round: PingRound
    index: int
    tx_ns: int
    deadline_ns: int
    source: str
    key: _Key


@dataclass(slots=True)
class _Channel:
    """One socket of one family, and the requests in flight on it."""

    sock: socket.socket
    v6: bool
    raw: bool
    identifier: int
    reply_type: int
    next_seq: int = 0
    pending: dict[_Key, _Pending] = field(default_factory=dict)

    def allocate(self) -> _Key:
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
    ``netns``: open the sockets inside this named network namespace (probe from there).
    """

    def __init__(
        self,
        *,
        privileged: bool | None = None,
        rcvbuf_bytes: int = 16 * 1024 * 1024,
        netns: str | None = None,
    ) -> None:
        self.privileged = privileged
        self.netns = netns
        self.rcvbuf_bytes = rcvbuf_bytes
        self.stats = EngineStats()
        self._channels: dict[bool, _Channel] = {}
        self._cookie = secrets.token_bytes(_COOKIE_LEN)
        self._loop: asyncio.AbstractEventLoop | None = None
        # Requests by timeout: each queue is in deadline order because send times only grow.
        self._deadlines: dict[int, deque[tuple[int, _Key, bool, _Pending]]] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._sweep_at = 0
        self._burst = 0

    async def __aenter__(self) -> IcmpEngine:
        self._loop = asyncio.get_running_loop()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        self._deadlines.clear()
        for ch in self._channels.values():
            if self._loop is not None:
                self._loop.remove_reader(ch.sock.fileno())
            for p in ch.pending.values():
                batch = p.round._batch
                if batch is not None and not batch.done.done():
                    batch.done.cancel()
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
            inode = str(os.fstat(ch.sock.fileno()).st_ino)
            table = ("raw" if ch.raw else "icmp") + ("6" if ch.v6 else "")
            try:
                lines = Path("/proc/net", table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                cols = line.split()
                if len(cols) > 9 and cols[9] == inode:
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
        reply = icmp_wire.ECHO_REPLY_V6 if v6 else icmp_wire.ECHO_REPLY_V4
        kinds = {True: [True], False: [False], None: [True, False]}[self.privileged]
        for raw in kinds:
            try:
                with namespace.netns(self.netns):
                    kind = socket.SOCK_RAW if raw else socket.SOCK_DGRAM
                    sock = socket.socket(family, kind, proto)
            except PermissionError:
                continue
            sock.setblocking(False)
            self._tune(sock, v6, raw)
            if raw:
                identifier = secrets.randbelow(1 << 16)
            else:
                sock.bind(("::", 0) if v6 else ("0.0.0.0", 0))
                identifier = sock.getsockname()[1]
            return _Channel(sock, v6, raw, identifier, reply)
        raise IcmpPermissionError("IPv6" if v6 else "IPv4", os.getgid())

    def _tune(self, sock: socket.socket, v6: bool, raw: bool) -> None:
        for force, plain in ((_SO_RCVBUFFORCE, socket.SO_RCVBUF), (_SO_SNDBUFFORCE, None)):
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, self.rcvbuf_bytes)
            except PermissionError:
                if plain is not None:
                    sock.setsockopt(socket.SOL_SOCKET, plain, self.rcvbuf_bytes)
        kernel_clock.enable(sock)
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

    # -- receive path (hot) ----------------------------------------------------------------

    def _on_readable(self, ch: _Channel) -> None:
        self._burst = 0
        recvmsg = ch.sock.recvmsg
        pending = ch.pending
        cookie = self._cookie
        stats = self.stats
        raw, reply_type, identifier = ch.raw, ch.reply_type, ch.identifier
        header_v4 = raw and not ch.v6
        unpack_id_seq = _ID_SEQ.unpack_from
        monotonic_ns = time.monotonic_ns
        timespec = _TIMESPEC.unpack_from
        offset = kernel_clock.offset_ns()  # sampled per drain
        while True:
            try:
                data, anc, _flags, addr = recvmsg(2048, _ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # a queued ICMP error on a ping socket: the timeout accounts for it
            now = monotonic_ns()
            off = (data[0] & 0x0F) * 4 if header_v4 and data else 0
            if len(data) < off + 16 or data[off] != reply_type:
                continue
            if not data.startswith(cookie, off + 8):
                stats.foreign += 1  # not ours: another process's ping on a raw socket
                continue
            ident, seq = unpack_id_seq(data, off + 4)
            key = (ident if raw else identifier, seq)
            entry = pending.get(key)
            if entry is None:
                stats.late += 1  # its request already timed out: it stays lost
                continue
            if entry.source != addr[0] and entry.source != addr[0].split("%", 1)[0]:
                stats.foreign += 1
                continue
            ttl = data[8] if header_v4 else None
            rx = 0
            for level, kind, payload in anc:
                if kind == _SO_TIMESTAMPNS and level == _SOL_SOCKET:
                    sec, nsec = timespec(payload)
                    rx = sec * 1_000_000_000 + nsec - offset
                elif (level, kind) in _TTL_CMSG:
                    ttl = int.from_bytes(payload[:4], "little") if len(payload) >= 4 else None
            if not entry.tx_ns <= rx <= now:
                stats.clock_fallbacks += 1
                rx = now
            del pending[key]
            rnd = entry.round
            if rx > entry.deadline_ns:
                stats.late += 1  # past its timeout, its expiry just not swept yet: loss
            else:
                stats.replies += 1
                rnd.rtts_ms[entry.index] = (rx - entry.tx_ns) / 1e6
                rnd.ttl = ttl
            batch = rnd._batch  # _Batch.settle, inlined on this hot path
            if batch is not None:
                batch.left -= 1
                if not batch.left and not batch.done.done():
                    batch.done.set_result(None)

    def _on_sweep(self) -> None:
        """Expire every request whose deadline has passed; re-arm for the next one. Replies
        already queued are read first: on a busy loop the sweep can run before the socket's
        turn, and a reply the kernel stamped in time is not lost (one stamped too late still
        is: ``_on_readable`` checks)."""
        self._sweep = None
        for open_ch in list(self._channels.values()):
            if open_ch.pending:
                self._on_readable(open_ch)
        now = time.monotonic_ns()
        nearest = 0
        for timeout_ns, queue in list(self._deadlines.items()):
            while queue and queue[0][0] <= now:
                _deadline, key, v6, entry = queue.popleft()
                ch = self._channels.get(v6)
                if ch is not None and ch.pending.get(key) is entry:
                    del ch.pending[key]
                    if entry.round._batch is not None:
                        entry.round._batch.settle()  # rtts_ms[index] stays None: lost
            if not queue:
                del self._deadlines[timeout_ns]
            elif not nearest or queue[0][0] < nearest:
                nearest = queue[0][0]
        if nearest:
            self._arm(nearest)

    def _arm(self, deadline_ns: int) -> None:
        if self._sweep is not None and self._sweep_at <= deadline_ns:
            return
        if self._sweep is not None:
            self._sweep.cancel()
        assert self._loop is not None
        delay = max(0.0, (deadline_ns - time.monotonic_ns()) / 1e9)
        self._sweep = self._loop.call_later(delay, self._on_sweep)
        self._sweep_at = deadline_ns

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
        (rnd,) = await self.ping_many(
            [address],
            count=count,
            interval_s=interval_s,
            timeout_s=timeout_s,
            payload_size=payload_size,
        )
        return rnd

    async def ping_many(
        self,
        addresses: Sequence[str],
        *,
        count: int = 5,
        interval_s: float = 0.2,
        timeout_s: float = 2.0,
        payload_size: int = 56,
    ) -> list[PingRound]:
        """One round to each address, sent like fping: packet i to every address, then packet
        i + 1 ``interval_s`` later. Returns the rounds in the order of ``addresses`` once every
        packet is settled (answered or timed out): one future for the whole batch, so that an
        agent pinging thousands of targets a second pays for a batch what it used to pay for
        a round."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if timeout_s <= 0 or interval_s < 0:
            raise ValueError("timeout_s must be > 0 and interval_s >= 0")
        loop = asyncio.get_running_loop()
        payload = self._cookie + bytes(max(0, payload_size - _COOKIE_LEN))
        payload_sum = icmp_wire.ones_sum(payload)
        plan: list[tuple[PingRound, _Channel, _Address]] = []
        batch = _Batch(loop.create_future(), count * len(addresses))
        for address in addresses:
            canonical, v6 = _canonical(address)
            rnd = PingRound(canonical, [None] * count, _batch=batch)
            dest: _Address = (canonical, 0, 0, 0) if v6 else (canonical, 0)
            plan.append((rnd, self._channel(v6), dest))
        timeout_ns = int(timeout_s * 1e9)
        start = loop.time()
        for i in range(count):
            if i and interval_s:
                delay = start + i * interval_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            pos = 0
            while pos < len(plan):
                pos, failed = self._send_pass(plan, pos, i, payload, payload_sum, timeout_ns)
                if failed is None:
                    continue
                entry, ch, packet, dest, exc = failed
                if await self._send_slow(ch, packet, dest, exc):
                    self._queue(entry, ch)
                else:
                    del ch.pending[entry.key]
                    self.stats.send_errors += 1
                    rnd = entry.round
                    rnd.send_error = os.strerror(exc.errno) if exc.errno else str(exc)
                    batch.settle()
        if batch.left:
            await batch.done
        return [rnd for rnd, _ch, _dest in plan]

    def _send_pass(
        self,
        plan: list[tuple[PingRound, _Channel, _Address]],
        pos: int,
        index: int,
        payload: bytes,
        payload_sum: int,
        timeout_ns: int,
    ) -> tuple[int, tuple[_Pending, _Channel, bytes, _Address, OSError] | None]:
        """Packet ``index`` of the plan's rounds from ``pos`` on, without yielding to the loop
        (no sweep runs in between: the deadline queue stays the same), until a send fails:
        then where to go on from, and the failed send, for a retry that may wait."""
        failed: tuple[_Pending, _Channel, bytes, _Address, OSError] | None = None
        append = self._deadline_queue(timeout_ns).append
        monotonic_ns = time.monotonic_ns
        pack = _HEADER.pack
        burst = self._burst
        sent = first_deadline = 0
        for rnd, ch, dest in itertools.islice(plan, pos, None):
            pos += 1
            burst += 1
            if burst >= _YIELD_EVERY:
                self._on_readable(ch)  # long burst: drain replies before the buffer fills
                burst = 0
            ident, seq = key = ch.allocate()
            if ch.v6:
                packet = pack(_ECHO_V6, 0, 0, ident, seq) + payload  # the kernel sums
            else:  # incremental RFC 1071 checksum: fold(sum(payload, type) + id + seq)
                csum = payload_sum + _ECHO_V4_WORD + ident + seq
                csum = (csum & 0xFFFF) + (csum >> 16)
                csum = ~((csum & 0xFFFF) + (csum >> 16)) & 0xFFFF
                packet = pack(_ECHO_V4, 0, csum, ident, seq) + payload
            tx_ns = monotonic_ns()
            deadline = tx_ns + timeout_ns
            entry = _Pending(rnd, index, tx_ns, deadline, rnd.address, key)
            ch.pending[key] = entry
            try:
                ch.sock.sendto(packet, dest)
            except OSError as exc:
                failed = (entry, ch, packet, dest, exc)
                break
            sent += 1
            append((deadline, key, ch.v6, entry))
            if not first_deadline:
                first_deadline = deadline
        self._burst = burst
        self.stats.sent += sent
        if first_deadline:
            self._arm(first_deadline)
        return pos, failed

    def _queue(self, entry: _Pending, ch: _Channel) -> None:
        """A request sent after a wait: onto its deadline queue (looked up now: while this
        send waited, the sweep may have emptied and dropped the queue; an entry put on the
        dropped queue would never expire, and its round would wait forever)."""
        self.stats.sent += 1
        queue = self._deadline_queue(entry.deadline_ns - entry.tx_ns)
        queue.append((entry.deadline_ns, entry.key, ch.v6, entry))
        self._arm(entry.deadline_ns)

    def _deadline_queue(self, timeout_ns: int) -> deque[tuple[int, _Key, bool, _Pending]]:
        """The queue of requests with this timeout (in deadline order), made when missing."""
        queue = self._deadlines.get(timeout_ns)
        if queue is None:
            queue = self._deadlines[timeout_ns] = deque()
        return queue

    async def _send_slow(self, ch: _Channel, packet: bytes, dest: _Address, exc: OSError) -> bool:
        """After a failed non-blocking send: wait and retry when the failure is transient (send
        buffer or device queue full); False when the packet cannot go (no route, ...)."""
        if isinstance(exc, BlockingIOError):
            await asyncio.get_running_loop().sock_sendto(ch.sock, packet, dest)
            return True
        if exc.errno == errno.ENOBUFS:
            await asyncio.sleep(0.001)
            try:
                ch.sock.sendto(packet, dest)
            except OSError:
                return False
            return True
        return False


@functools.lru_cache(maxsize=1 << 16)
def _canonical(address: str) -> tuple[str, bool]:
    """The address as the kernel reports reply sources, and whether it is IPv6."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(
                family, socket.inet_pton(family, address)
            ), family == socket.AF_INET6
        except OSError:
            continue
    raise ValueError(f"not an IP address: {address!r}")
