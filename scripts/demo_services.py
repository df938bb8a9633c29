"""Loopback services for the demo: a TCP/HTTP server and a DNS server on free ports.

Writes "TCP_PORT HTTP_PORT DNS_PORT" to the file named on the command line once listening, then
serves until killed."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dnslib import QTYPE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer


class _Health(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"status": "ok"}\n'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Zone(BaseResolver):  # type: ignore[misc]
    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        if QTYPE[request.q.qtype] == "A":
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("127.0.0.1"), ttl=60))
        return reply


class _Quiet:
    def __getattr__(self, name: str) -> object:
        return lambda *a, **k: None


def main() -> None:
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    port = http.server_address[1]
    dns = DNSServer(_Zone(), port=0, address="127.0.0.1", logger=_Quiet())
    dns_port = dns.server.server_address[1]
    dns.start_thread()
    Path(sys.argv[1]).write_text(f"{port} {port} {dns_port}\n")
    threading.Thread(target=http.serve_forever, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
