"""Real servers on loopback for tests: HTTP(S), TCP listeners, DNS (dnslib), a silent UDP port,
a webhook receiver (cablewatch.harness.receiver). Each runs in its own thread and stops when its
context exits."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer

from cablewatch.harness.receiver import Received, serving, webhook_receiver

__all__ = [
    "Received",
    "dns_server",
    "free_port",
    "http_server",
    "self_signed_cert",
    "silent_udp",
    "tcp_listener",
    "webhook_receiver",
]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[1])
            self._send(code, b"status\n")
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world\n"):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(200, b"ok\n" * 100)

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def http_server(tls_dir: Path | None = None) -> Iterator[int]:
    """An HTTP (or, with ``tls_dir``, HTTPS with a self-signed cert) server; yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    if tls_dir is not None:
        cert, key = self_signed_cert(tls_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    with serving(server) as port:
        yield port


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@contextlib.contextmanager
def tcp_listener(host: str = "127.0.0.1") -> Iterator[int]:
    """A listening TCP socket (the kernel completes handshakes); yields its port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        sock.listen(512)
        yield sock.getsockname()[1]


def free_port() -> int:
    """A TCP port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Zone(BaseResolver):  # type: ignore[misc]
    """api.test. -> 127.0.0.7; everything else NXDOMAIN."""

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        qname = str(request.q.qname)
        if qname == "api.test." and QTYPE[request.q.qtype] == "A":
            reply.add_answer(RR(qname, QTYPE.A, rdata=A("127.0.0.7"), ttl=60))
        elif qname != "api.test.":
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@contextlib.contextmanager
def dns_server() -> Iterator[int]:
    """A dnslib UDP DNS server on 127.0.0.1; yields its port."""
    port = _free_udp_port()
    server = DNSServer(_Zone(), port=port, address="127.0.0.1", logger=_Quiet())
    server.start_thread()
    try:
        yield port
    finally:
        server.stop()
        server.server.server_close()


@contextlib.contextmanager
def silent_udp() -> Iterator[int]:
    """A UDP port that receives and never answers (a DNS server that is down but routed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None
