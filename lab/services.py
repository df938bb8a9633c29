"""The landing station's services, run inside its namespace: what probes aim at.

On every per-cable service address: a TCP port (accepts and closes), an HTTP endpoint
(``GET /healthz``), a DNS server (answers ``A`` for the configured name with the address the
query arrived on, NXDOMAIN for anything else), and a stand-in streaming LLM API
(``POST|GET /v1/stream?tokens=N``) that sends server-sent events: the first token after
``think_ms``, then one token every ``token_ms``; and a STAMP session-reflector (UDP 862,
reflector/stamp.py) for the regions' ``stamp`` probes.

Run as ``python -m cablewatch.lab.services SPEC.json``; writes ``ready`` to the spec's
``ready_file`` once every socket listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import os
import selectors
import signal
import struct
import sys
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from cablewatch.probes.stamp_wire import PORT, encode_error
from cablewatch.reflector.stamp import Reflector

__all__ = ["main", "serve", "stream_handler"]


async def _tcp_accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


def stream_handler(
    spec: dict[str, Any],
) -> Any:
    """The HTTP service (``/healthz`` and the streaming ``/v1/stream``) as an asyncio stream
    handler; ``spec``'s ``think_ms`` and ``token_ms`` pace the tokens."""
    think_s = spec.get("think_ms", 200) / 1000
    token_s = spec.get("token_ms", 20) / 1000

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            arrived = asyncio.get_running_loop().time()
            _method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            url = urlsplit(target)
            if url.path == "/healthz":
                await _send(writer, 200, b'{"status": "ok"}\n', "application/json")
            elif url.path == "/v1/stream":
                tokens = int(parse_qs(url.query).get("tokens", ["16"])[0])
                await _stream(writer, min(max(tokens, 1), 4096), arrived + think_s, token_s)
            else:
                await _send(writer, 404, b"not found\n", "text/plain")
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return handle


async def _send(writer: asyncio.StreamWriter, code: int, body: bytes, ctype: str) -> None:
    reason = {200: "OK", 404: "Not Found"}[code]
    writer.write(
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()


_SPIN_S = 0.001
"""The last millisecond of the think time is a busy-wait: a timer here wakes 0.1-0.5 ms late
(select() 0.34 ms, time.sleep 0.12-0.18 ms measured on these VMs), and the think time is the
lab's ground truth for time to first token."""


async def _until(due: float) -> None:
    """Return at ``due`` (the loop's clock), not a timer's wake-up later."""
    loop = asyncio.get_running_loop()
    if due - loop.time() > _SPIN_S:
        await asyncio.sleep(due - loop.time() - _SPIN_S)
    while loop.time() < due:
        pass


async def _stream(writer: asyncio.StreamWriter, tokens: int, due: float, token_s: float) -> None:
    """The model thinks until ``due`` (the request's arrival, as this process read it, plus the
    think time), then sends a token ``token_s`` after the previous one left: never sooner, so a
    late token (a wake-up or preemption past the spin) delays the rest instead of shortening
    the gap after it (a schedule fixed at the start did: CI once saw 3 gaps 0.8 ms short of
    60 ms). Each event is built before its time."""
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()
    for i in range(tokens):
        event = f"data: {json.dumps({'index': i, 'token': f'tok{i}'})}\n\n".encode()
        chunk = f"{len(event):x}\r\n".encode() + event + b"\r\n"
        await _until(due)
        due = asyncio.get_running_loop().time() + token_s
        writer.write(chunk)
        await writer.drain()
    done = b"data: [DONE]\n\n"
    writer.write(f"{len(done):x}\r\n".encode() + done + b"\r\n0\r\n\r\n")
    await writer.drain()


class _Dns(asyncio.DatagramProtocol):
    """A minimal authoritative answer for one name; NXDOMAIN otherwise."""

    def __init__(self, name: str, address: str) -> None:
        self.name = name.rstrip(".").lower()
        self.address = bytes(int(p) for p in address.split("."))
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) < 12 or self.transport is None:
            return
        ident, flags, qdcount = struct.unpack_from("!HHH", data)
        if flags & 0x8000 or qdcount != 1:
            return
        labels, pos = [], 12
        while pos < len(data) and data[pos]:
            length = data[pos]
            labels.append(data[pos + 1 : pos + 1 + length].decode("ascii", "replace").lower())
            pos += 1 + length
        question = data[12 : pos + 5]
        if pos + 5 > len(data):
            return
        qtype = struct.unpack_from("!H", data, pos + 1)[0]
        known = ".".join(labels) == self.name
        answers = b""
        if known and qtype == 1:
            answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + self.address
        rcode = 0 if known else 3
        header = struct.pack(
            "!HHHHHH", ident, 0x8400 | (flags & 0x0100) | rcode, 1, 1 if answers else 0, 0, 0
        )
        self.transport.sendto(header + question + answers, addr)


async def serve(spec: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    servers: list[asyncio.AbstractServer] = []
    transports: list[asyncio.BaseTransport] = []
    handler = stream_handler(spec)
    for address in spec["addresses"]:
        servers.append(await asyncio.start_server(_tcp_accept, address, spec["tcp_port"]))
        servers.append(await asyncio.start_server(handler, address, spec["http_port"]))
        if spec.get("token_port") and spec["token_port"] != spec["http_port"]:
            servers.append(await asyncio.start_server(handler, address, spec["token_port"]))
        dns, _ = await loop.create_datagram_endpoint(
            functools.partial(_Dns, spec["dns_name"], address),
            local_addr=(address, spec["dns_port"]),
        )
        transports.append(dns)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # STAMP: the reflector a landing station without a STAMP-capable router runs, answering
    # the lab's own addresses only (the regions' and the station's, 198.18.0.0/15); the lab's
    # namespaces share this host's one clock: no error between them (a synchronized 0)
    reflector = Reflector(allow=[ipaddress.ip_network("198.18.0.0/15")],
                          error=encode_error(0.0, synchronized=True))  # fmt: skip
    reflecting = []
    for address in spec["addresses"]:
        listening = asyncio.Event()
        reflecting.append(asyncio.create_task(
            reflector.serve(address, spec.get("stamp_port", PORT), stop, listening)))  # fmt: skip
        await listening.wait()
    await asyncio.to_thread(Path(spec["ready_file"]).write_text, "ready\n")
    await stop.wait()
    await asyncio.gather(*reflecting)
    for server in servers:
        server.close()
    for transport in transports:
        transport.close()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m cablewatch.lab.services SPEC.json")
    # Like the emulator: the lab's ground truth must not wait for the CPU behind the probes and
    # the stack (2 cores here). Measured under two CPU hogs at nice 0, the first token left up
    # to 6 ms late at nice 0. Root may raise its share; otherwise as is.
    with contextlib.suppress(OSError):
        os.nice(-10)
    # select() rather than epoll: epoll's timeout has millisecond granularity, so the think
    # time (the lab's ground truth for time to first token) would run up to a millisecond
    # long; select() wakes within microseconds.
    with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(
            selectors.SelectSelector())) as runner:  # fmt: skip
        runner.run(serve(json.loads(Path(sys.argv[1]).read_text())))


if __name__ == "__main__":
    main()
