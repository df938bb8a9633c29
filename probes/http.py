"""HTTP(S) probe with phase timings: dns, connect, tls, first_byte, transfer, total.

A small HTTP/1.1 client of our own so that each phase is timed where it happens (a library
client hides the boundaries). ``first_byte`` runs from the request written to the first response
byte read (server think time plus one RTT); ``transfer`` from there to the end of the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cablewatch import __version__
from cablewatch.errors import TargetError
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
from cablewatch.probes.targets import ResolveFailure, host_port, resolve
from cablewatch.probes.tcp import classify_os_error, timed_connect
from cablewatch.schema import Int, Num, Str, Table

__all__ = ["PHASES", "SPEC", "HttpSettings", "http_probe", "parse_url"]

PHASES = ("dns", "connect", "tls", "first_byte", "transfer", "total")

_MAX_HEADER_BYTES = 64 * 1024
_MAX_BODY_BYTES = 16 * 1024 * 1024


class _BadResponse(Exception):
    pass


def parse_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path-and-query) of an http(s) URL, or TargetError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetError(f"bad URL {url!r}: expected http:// or https://")
    if not parts.hostname:
        raise TargetError(f"bad URL {url!r}: no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetError(f"bad port in {url!r}: expected a number from 1 to 65535") from exc
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


async def http_probe(
    url: str,
    *,
    timeout_s: float = 5.0,
    verify_tls: bool = True,
    labels: dict[str, str] | None = None,
) -> ProbeResult:
    """GET ``url`` once; raises TargetError only for a malformed URL."""
    scheme, host, port, path = parse_url(url)
    stamp = time.time_ns()
    labels = labels or {}
    phases: dict[str, float] = {}
    start = time.monotonic_ns()

    def since(t0: int) -> float:
        return (time.monotonic_ns() - t0) / 1e6

    address = ""
    try:
        async with asyncio.timeout(timeout_s):
            address = await resolve(host, timeout_s=timeout_s)
            phases["dns"] = since(start)
            sock, phases["connect"] = await timed_connect(address, port)
            t_tls = time.monotonic_ns()
            tls = _tls_context(verify_tls) if scheme == "https" else None
            reader, writer = await asyncio.open_connection(
                sock=sock, ssl=tls, server_hostname=host if tls else None
            )
            if tls is not None:
                phases["tls"] = since(t_tls)
            try:
                status_code = await _exchange(reader, writer, host, port, path, phases)
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
    except ResolveFailure as exc:
        return ProbeResult("http", url, "", stamp, "resolve_error", str(exc), labels=labels)
    except ssl.SSLError as exc:
        return _failed(
            url, address, stamp, "tls_error", f"TLS: {exc.reason or exc}", phases, labels
        )
    except _BadResponse as exc:
        return _failed(url, address, stamp, "protocol_error", str(exc), phases, labels)
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
        if isinstance(exc, asyncio.IncompleteReadError):
            return _failed(
                url,
                address,
                stamp,
                "protocol_error",
                "connection closed mid-response",
                phases,
                labels,
            )
        status, error = classify_os_error(exc, timeout_s)
        return _failed(url, address, stamp, status, error, phases, labels)
    phases["total"] = since(start)
    ok = 200 <= status_code < 400
    return ProbeResult(
        "http",
        url,
        address,
        stamp,
        "ok" if ok else "bad_status",
        "" if ok else f"HTTP status {status_code}",
        phases_ms=phases,
        http_status=status_code,
        labels=labels,
    )


def _failed(
    url: str,
    address: str,
    stamp: int,
    status: Status,
    error: str,
    phases: dict[str, float],
    labels: dict[str, str],
) -> ProbeResult:
    return ProbeResult("http", url, address, stamp, status, error, phases_ms=phases, labels=labels)


def _tls_context(verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    host: str,
    port: int,
    path: str,
    phases: dict[str, float],
) -> int:
    host_header = f"[{host}]" if ":" in host else host
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host_header}:{port}\r\n"
        f"User-Agent: cablewatch/{__version__}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    writer.write(request.encode("ascii"))
    await writer.drain()
    t_sent = time.monotonic_ns()
    first = await reader.read(1)
    if not first:
        raise _BadResponse("connection closed before any response byte")
    t_first = time.monotonic_ns()
    phases["first_byte"] = (t_first - t_sent) / 1e6
    head = first + await reader.readuntil(b"\r\n\r\n")
    if len(head) > _MAX_HEADER_BYTES:
        raise _BadResponse("response headers larger than 64 KiB")
    status_code, headers = _parse_head(head)
    await _read_body(reader, headers)
    phases["transfer"] = (time.monotonic_ns() - t_first) / 1e6
    return status_code


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise _BadResponse(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> None:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError as exc:
                raise _BadResponse(f"bad chunk size {size_line[:20]!r}") from exc
            if size == 0:
                await reader.readuntil(b"\r\n")  # trailer end (no trailers expected)
                return
            await reader.readexactly(size + 2)
    elif "content-length" in headers:
        length = headers["content-length"]
        if not length.isdigit() or int(length) > _MAX_BODY_BYTES:
            raise _BadResponse(f"bad Content-Length {length!r}")
        await reader.readexactly(int(length))
    else:
        await reader.read(_MAX_BODY_BYTES)  # until the server closes


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """``[probe]`` keys http_scheme, http_port, http_path, http_interval_s (default:
    interval_s)."""

    http_scheme: str = "http"
    http_port: int = 80
    http_path: str = "/"
    interval_s: float = DEFAULT_INTERVAL_S
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_table(cls, t: Table, common: CommonProbe) -> HttpSettings:
        v = t.read(http_scheme=Str(("http", "https")), http_port=Int(1, 65535),
                   http_path=Str(), http_interval_s=Num(low=0.01))  # fmt: skip
        if not v.get("http_path", "/").startswith("/"):
            t.problem("http_path", f"got {v.pop('http_path')!r}, expected a path starting "
                      "with '/'")  # fmt: skip
        return common.settings(cls, v, "http_interval_s")


async def _run(_ctx: ProbeContext, address: str, s: HttpSettings, labels: dict[str, str]) -> Any:
    url = f"{s.http_scheme}://{host_port(address, s.http_port)}{s.http_path}"
    return await http_probe(url, timeout_s=s.timeout_s, labels=labels)


def _points(result: ProbeResult) -> list[Point]:
    fields = common_fields(result) | {f"{p}_ms": v for p, v in result.phases_ms.items()}
    fields["http_status"] = result.http_status
    return [Point("http", fields)]


def _phase(name: str) -> Column:
    return Column(f"{name} ms", lambda r: ms_cell(r.phases_ms.get(name)))


SPEC = ProbeSpec(
    protocol="http",
    settings=HttpSettings.from_table,
    run=_run,
    points=_points,
    columns=(
        *(_phase(p) for p in PHASES),
        Column("http", lambda r: "-" if r.http_status is None else str(r.http_status), False),
        Column("error", lambda r: r.error, right=False),
    ),
)
