"""TCP connect time: how long the three-way handshake takes to a host:port."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from cablewatch.probes.result import ProbeResult, Status
from cablewatch.probes.spec import (
    DEFAULT_INTERVAL_S,
    DEFAULT_TIMEOUT_S,
    Column,
    CommonProbe,
    Point,
    ProbeContext,
    ProbeSpec,
    common_fields,
    ms_cell,
)
from cablewatch.probes.targets import ResolveFailure, host_port, parse_host_port, resolve
from cablewatch.schema import Int, Num, Table

__all__ = ["SPEC", "TcpSettings", "classify_os_error", "tcp_probe", "timed_connect"]

_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


def classify_os_error(exc: BaseException, timeout_s: float) -> tuple[Status, str]:
    """Map a connection failure to a result status and one readable line."""
    if isinstance(exc, TimeoutError):
        return "timeout", f"no answer within {timeout_s:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "refused", "connection refused"
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE:
        return "unreachable", os.strerror(exc.errno or 0)
    if isinstance(exc, OSError):
        return "unreachable", exc.strerror or str(exc)
    return "protocol_error", str(exc) or type(exc).__name__


_TCP_INFO = struct.Struct("I" * 26)
"""struct tcp_info up to tcpi_total_retrans (Linux): 8 bytes of flags, then 32-bit fields."""
_RTT_US, _TOTAL_RETRANS = 17, 25  # byte offsets 68 and 100, over 4


def kernel_handshake_ms(sock: socket.socket) -> float | None:
    """The handshake's round trip as the kernel measured it (TCP_INFO's first RTT sample,
    microseconds: the SYN out, the SYN-ACK in), free of this process's wake-up; None where the
    kernel does not say (not Linux) or when the SYN was sent again (then only the time the
    caller waited tells what the handshake cost)."""
    tcp_info = getattr(socket, "TCP_INFO", None)
    if tcp_info is None:
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, tcp_info, _TCP_INFO.size)
    except OSError:
        return None
    if len(raw) < _TCP_INFO.size:
        return None
    fields = _TCP_INFO.unpack(raw)
    rtt_us, retransmitted = fields[_RTT_US], fields[_TOTAL_RETRANS]
    return rtt_us / 1000 if rtt_us and not retransmitted else None


async def timed_connect(address: str, port: int) -> tuple[socket.socket, float]:
    """Open a TCP connection to an IP address; return the socket and the handshake time (ms):
    the kernel's measure when it has one (:func:`kernel_handshake_ms`), else the time waited.
    The caller bounds the time (asyncio.timeout) and owns the socket."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        t0 = time.monotonic_ns()
        await asyncio.get_running_loop().sock_connect(sock, (address, port))
        elapsed_ms = (time.monotonic_ns() - t0) / 1e6
    except BaseException:
        sock.close()
        raise
    kernel = kernel_handshake_ms(sock)
    return sock, elapsed_ms if kernel is None else min(kernel, elapsed_ms)


async def tcp_probe(
    target: str, *, timeout_s: float = 2.0, labels: dict[str, str] | None = None
) -> ProbeResult:
    """Connect to ``target`` (HOST:PORT) once; raises TargetError only for a malformed target."""
    host, port = parse_host_port(target)
    stamp = time.time_ns()
    labels = labels or {}
    try:
        address = await resolve(host, timeout_s=timeout_s)
    except ResolveFailure as exc:
        return ProbeResult("tcp", target, "", stamp, "resolve_error", str(exc), labels=labels)
    try:
        async with asyncio.timeout(timeout_s):
            sock, connect_ms = await timed_connect(address, port)
    except (OSError, TimeoutError) as exc:
        status, error = classify_os_error(exc, timeout_s)
        return ProbeResult("tcp", target, address, stamp, status, error, labels=labels)
    with contextlib.closing(sock):
        return ProbeResult(
            "tcp", target, address, stamp, "ok", phases_ms={"connect": connect_ms}, labels=labels
        )


@dataclass(frozen=True, slots=True)
class TcpSettings:
    """``[probe]`` keys tcp_port and tcp_interval_s (default: interval_s)."""

    tcp_port: int = 443
    interval_s: float = DEFAULT_INTERVAL_S
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_table(cls, t: Table, common: CommonProbe) -> TcpSettings:
        v = t.read(tcp_port=Int(1, 65535), tcp_interval_s=Num(low=0.01))
        return common.settings(cls, v, "tcp_interval_s")


async def _run(_ctx: ProbeContext, address: str, s: TcpSettings, labels: dict[str, str]) -> Any:
    return await tcp_probe(host_port(address, s.tcp_port), timeout_s=s.timeout_s, labels=labels)


def _points(result: ProbeResult) -> list[Point]:
    return [Point("tcp", common_fields(result) | {"connect_ms": result.phases_ms.get("connect")})]


SPEC = ProbeSpec(
    protocol="tcp",
    settings=TcpSettings.from_table,
    run=_run,
    points=_points,
    columns=(
        Column("connect ms", lambda r: ms_cell(r.phases_ms.get("connect"))),
        Column("error", lambda r: r.error, right=False),
    ),
)
