"""Client of the emulator's control socket (one JSON line each way)."""

from __future__ import annotations

import json
import socket
from typing import Any

from cablewatch.errors import CablewatchError

__all__ = ["request"]


def request(path: str, payload: dict[str, Any], *, timeout_s: float = 5.0) -> dict[str, Any]:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(path)
            sock.sendall(json.dumps(payload).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise CablewatchError(f"the lab's link emulator does not answer at {path}: {exc}") from exc
    reply: dict[str, Any] = json.loads(data)
    if not reply.get("ok"):
        raise CablewatchError(f"link emulator: {reply.get('error', 'failed')}")
    return reply
