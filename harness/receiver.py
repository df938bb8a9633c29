"""A webhook receiver for the lab, its tests and benchmarks: records every POST (path,
headers, body, arrival time) and answers 204, or 503 to the first ``fail_first``. Runs in its
own thread on loopback until its context exits."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Post", "Received", "serving", "webhook_receiver"]


@dataclass(frozen=True, slots=True)
class Post:
    path: str
    headers: dict[str, str]
    body: bytes
    t: float
    """Unix seconds when it arrived."""


@dataclass
class Received:
    """What a webhook receiver got."""

    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    """(headers, body) of every POST it accepted, in order."""
    log: list[Post] = field(default_factory=list)
    """The same POSTs with their path and arrival time."""
    fail_first: int = 0
    """Answer this many POSTs 503 first (a sender must retry them)."""


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[int]:
    """Serve from a thread until the context exits; yields the port."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def webhook_receiver(received: Received, host: str = "127.0.0.1") -> Iterator[int]:
    """A server that records POSTs into ``received`` (204); yields its port."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                if received.fail_first > 0:
                    received.fail_first -= 1
                    self.send_response(503)
                else:
                    received.posts.append((dict(self.headers), body))
                    received.log.append(Post(self.path, dict(self.headers), body, time.time()))
                    self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    with serving(server) as port:
        yield port
