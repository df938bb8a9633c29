"""Time to first token of a streaming LLM API (server-sent events over HTTP/1.1).

What a customer of the landing station feels: connect (one round trip), TLS when https, send
the request, wait for the first ``data:`` event (one round trip plus the model's think time),
then the tokens. Phases, from the monotonic clock; over plain HTTP the tokens' arrival is the
kernel's receive time of their segment and the handshake is the kernel's own measure of it, so
a busy probe host does not add its wake-ups to the network's time (over TLS: when read):

- ``connect``: the TCP handshake; ``tls``: the TLS handshake (https);
- ``request``: writing the request; ``first_token``: from the request sent to the first token;
- ``ttft``: connect + tls + request + first token: what the customer waits, less the probe's
  own pauses between the phases;
- ``stream``: from the first token to the last; ``total``: ttft + stream.

Its floor, when the server's think time is known (``ttft_think_ms``): the connect round trip,
the request's round trip (the same path: the connect time again) and the think time
(``floor_ms`` = 2 x connect + tls + think). A timeout or a refused connection is a failure with
its reason, never a long time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from cablewatch.probes import kernel_clock
from cablewatch.probes.buckets import RTT_BUCKETS
from cablewatch.probes.result import ProbeResult
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
from cablewatch.probes.targets import ResolveFailure, host_port, resolve
from cablewatch.probes.tcp import classify_os_error, timed_connect
from cablewatch.schema import Int, Num, Str, Table

__all__ = [
    "MEASUREMENT",
    "SPEC",
    "TtftResult",
    "TtftSettings",
    "floor_ms",
    "ttft_probe",
    "ttft_round",
]

MEASUREMENT = "ttft"
"""One point per request: its phases (``ttft_ms`` among them), tokens, status."""


@dataclass(frozen=True, slots=True)
class TtftResult:
    ok: bool
    connect_ms: float | None
    ttft_ms: float | None
    """From sending the request to the first token event."""
    total_ms: float | None
    tokens: int
    error: str = ""


@dataclass(slots=True)
class _Stream:
    phases: dict[str, float]
    tokens: int = 0
    status_line: str = ""


class _Lines:
    """Lines from a plain TCP socket, each with the kernel's receive time of the newest segment
    the read that completed it took in (monotonic ns; :mod:`kernel_clock`): the first token's
    arrival, not this process's wake-up after it."""

    def __init__(self, sock: socket.socket) -> None:
        kernel_clock.enable(sock)
        self.sock = sock
        self.buffer = bytearray()
        self.stamp_ns = 0
        self.eof = False

    async def readline(self) -> tuple[bytes, int]:
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0 or self.eof:
                n = end + 1 if end >= 0 else len(self.buffer)
                line = bytes(self.buffer[:n])
                del self.buffer[:n]
                return line, self.stamp_ns
            await self._fill()

    async def _fill(self) -> None:
        offset = kernel_clock.offset_ns()
        while True:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(65536, kernel_clock.ANC_SIZE)
                break
            except (BlockingIOError, InterruptedError):
                await _readable(self.sock)
        now = time.monotonic_ns()
        rx = kernel_clock.rx_monotonic_ns(anc, offset)
        self.stamp_ns = now if rx is None else min(rx, now)
        self.buffer += data
        self.eof = not data


async def _readable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


async def _measure(host: str, port: int, path: str, tls: ssl.SSLContext | None, out: _Stream,
                   *, server_name: str) -> None:  # fmt: skip
    """One request; fills ``out`` as it goes (the caller bounds the time)."""

    def ms(since: int) -> float:
        return (time.monotonic_ns() - since) / 1e6

    # timed_connect: the handshake alone (asyncio.open_connection(host, port) would add a
    # getaddrinfo round through a thread, half a millisecond, to every connect)
    sock, out.phases["connect"] = await timed_connect(host, port)
    request = (f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nAccept: text/event-stream\r\n"
               "Connection: close\r\n\r\n").encode()  # fmt: skip
    if tls is None:  # the bare socket: sent at once, and each line stamped by the kernel
        with contextlib.closing(sock):
            t_req = time.monotonic_ns()
            await asyncio.get_running_loop().sock_sendall(sock, request)
            out.phases["request"] = ms(t_req)
            await _read_stream(_Lines(sock).readline, time.monotonic_ns(), out)
        return
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        t_tls = time.monotonic_ns()
        await writer.start_tls(tls, server_hostname=server_name)
        out.phases["tls"] = ms(t_tls)
        t_req = time.monotonic_ns()
        writer.write(request)
        await writer.drain()
        out.phases["request"] = ms(t_req)

        async def readline() -> tuple[bytes, int]:  # TLS: the time this process read it
            line = await reader.readline()
            return line, time.monotonic_ns()

        await _read_stream(readline, time.monotonic_ns(), out)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def _read_stream(readline: Callable[[], Awaitable[tuple[bytes, int]]], t_sent: int,
                       out: _Stream) -> None:  # fmt: skip
    """The response: status line, headers, then server-sent events until ``[DONE]``. The time
    to first token is the sum of its phases (connect, TLS, request, first token), so the
    probe's own pauses between them (a wake-up after the handshake) are not counted."""
    before = sum(out.phases.get(p, 0.0) for p in ("connect", "tls", "request"))
    out.status_line = (await readline())[0].decode(errors="replace").strip()
    if " 200 " not in f"{out.status_line} ":
        return
    while (await readline())[0] not in (b"", b"\r\n"):
        pass  # headers
    t_first = 0
    while (got := await readline())[0]:
        line, stamp = got
        if line.startswith(b"data: [DONE]"):
            break
        if line.startswith(b"data:"):
            out.tokens += 1
            if out.tokens == 1:
                t_first = stamp
                out.phases["first_token"] = (stamp - t_sent) / 1e6
                out.phases["ttft"] = before + out.phases["first_token"]
    if out.tokens:
        out.phases["stream"] = (got[1] - t_first) / 1e6
    out.phases["total"] = before + (got[1] - t_sent) / 1e6


async def ttft_probe(host: str, port: int, *, path: str = "/v1/stream?tokens=4",
                     timeout_s: float = 2.0) -> TtftResult:  # fmt: skip
    """One request, for the gateway stand-in: connect time, request-to-first-token time."""
    r = await ttft_round(host, port, path=path, timeout_s=timeout_s)
    return TtftResult(r.success, r.phases_ms.get("connect"), r.phases_ms.get("first_token"),
                      r.phases_ms.get("total"), r.tokens or 0, r.error)  # fmt: skip


async def ttft_round(
    address: str,
    port: int,
    *,
    path: str = "/v1/stream?tokens=4",
    scheme: str = "http",
    timeout_s: float = 2.0,
    labels: dict[str, str] | None = None,
) -> ProbeResult:
    """One streamed request to ``address:port``: its phases and the tokens received."""
    stamp = time.time_ns()
    out = _Stream({})
    target = f"{scheme}://{host_port(address, port)}{path}"
    tls = ssl.create_default_context() if scheme == "https" else None
    try:
        ip = await resolve(address, timeout_s=timeout_s)
    except ResolveFailure as exc:
        return ProbeResult("ttft", target, "", stamp, "resolve_error", str(exc),
                           labels=labels or {})  # fmt: skip
    try:
        async with asyncio.timeout(timeout_s):
            await _measure(ip, port, path, tls, out, server_name=address)
    except ssl.SSLError as exc:
        return ProbeResult("ttft", target, ip, stamp, "tls_error", f"TLS: {exc.reason}",
                           phases_ms=out.phases, labels=labels or {})  # fmt: skip
    except (OSError, TimeoutError) as exc:
        status, error = classify_os_error(exc, timeout_s)
        if "first_token" in out.phases and isinstance(exc, TimeoutError):
            error = f"stream not finished within {timeout_s:g} s"
        return ProbeResult("ttft", target, ip, stamp, status, error, phases_ms=out.phases,
                           labels=labels or {}, tokens=out.tokens)  # fmt: skip
    if " 200 " not in f"{out.status_line} ":
        return ProbeResult("ttft", target, ip, stamp, "bad_status",
                           f"HTTP {out.status_line or 'no status line'}", phases_ms=out.phases,
                           labels=labels or {})  # fmt: skip
    if not out.tokens:
        return ProbeResult("ttft", target, ip, stamp, "protocol_error", "no token",
                           phases_ms=out.phases, labels=labels or {})  # fmt: skip
    return ProbeResult("ttft", target, ip, stamp, "ok", phases_ms=out.phases,
                       labels=labels or {}, tokens=out.tokens)  # fmt: skip


def floor_ms(phases: Mapping[str, float], think_ms: float | None) -> float | None:
    """TTFT's floor: connect RTT + request RTT (the same path) + TLS + think time."""
    connect = phases.get("connect")
    if think_ms is None or connect is None:
        return None
    return 2 * connect + phases.get("tls", 0.0) + think_ms


def tokens_per_s(result: ProbeResult) -> float | None:
    tokens, stream = result.tokens or 0, result.phases_ms.get("stream")
    if tokens < 2 or not stream:
        return None
    return round((tokens - 1) / (stream / 1000), 3)


@dataclass(frozen=True, slots=True)
class TtftSettings:
    """``[probe]`` keys ttft_*: the streaming endpoint per target, and the server's think time
    when known (for the floor)."""

    ttft_scheme: str = "http"
    ttft_port: int = 8080
    ttft_path: str = "/v1/stream?tokens=4"
    ttft_think_ms: float | None = None
    interval_s: float = DEFAULT_INTERVAL_S
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_table(cls, t: Table, common: CommonProbe) -> TtftSettings:
        v = t.read(ttft_scheme=Str(("http", "https")), ttft_port=Int(1, 65535), ttft_path=Str(),
                   ttft_think_ms=Num(0), ttft_interval_s=Num(low=0.01))  # fmt: skip
        if not v.get("ttft_path", "/").startswith("/"):
            t.problem("ttft_path", f"got {v.pop('ttft_path')!r}, expected a path starting "
                      "with '/'")  # fmt: skip
        return common.settings(cls, v, "ttft_interval_s")


async def _run(_ctx: ProbeContext, address: str, s: TtftSettings, labels: dict[str, str]) -> Any:
    result = await ttft_round(address, s.ttft_port, path=s.ttft_path, scheme=s.ttft_scheme,
                              timeout_s=s.timeout_s, labels=labels)  # fmt: skip
    floor = floor_ms(result.phases_ms, s.ttft_think_ms) if result.success else None
    if floor is None:
        return result
    return replace(result, phases_ms={**result.phases_ms, "floor": floor})


def _points(result: ProbeResult) -> list[Point]:
    fields: dict[str, FieldValue | None] = common_fields(result)
    fields |= {f"{p}_ms": v for p, v in result.phases_ms.items()}
    fields["tokens"] = result.tokens
    fields["tokens_per_s"] = tokens_per_s(result)
    return [Point(MEASUREMENT, fields)]


def _phase(name: str, header: str) -> Column:
    return Column(header, lambda r: ms_cell(r.phases_ms.get(name)))


_TTFT = "cablewatch_ttft_seconds"
_TTFT_HELP = (
    "Time to first token of the streaming LLM API (ttft probe: from the start of the connection)."
)


def _observe(result: ProbeResult, m: PathMetrics) -> None:
    if (ttft_ms := result.phases_ms.get("ttft")) is not None:
        m.observe(_TTFT, ttft_ms / 1000.0)


SPEC = ProbeSpec(
    protocol="ttft",
    settings=TtftSettings.from_table,
    run=_run,
    points=_points,
    columns=(
        _phase("connect", "connect ms"),
        _phase("tls", "tls ms"),
        _phase("first_token", "first token ms"),
        _phase("ttft", "ttft ms"),
        _phase("floor", "floor ms"),
        Column("tok/s", lambda r: "-" if (x := tokens_per_s(r)) is None else f"{x:.1f}"),
        _phase("total", "total ms"),
        Column("error", lambda r: r.error, right=False),
    ),
    metrics=(Metric(_TTFT, "histogram", _TTFT_HELP, RTT_BUCKETS),),
    observe=_observe,
)
