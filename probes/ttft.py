"""Time to first token of a streaming LLM API (server-sent events over HTTP/1.1).

What a customer of the landing station feels: connect (one round trip), send the request, wait
for the first ``data:`` event (one round trip plus the model's think time), then the tokens.
Durations from the monotonic clock; a timeout or a refused connection is a failure with its
reason, never a long time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

__all__ = ["TtftResult", "ttft_probe"]


@dataclass(frozen=True, slots=True)
class TtftResult:
    ok: bool
    connect_ms: float | None
    ttft_ms: float | None
    """From sending the request to the first token event."""
    total_ms: float | None
    tokens: int
    error: str = ""


async def ttft_probe(host: str, port: int, *, path: str = "/v1/stream?tokens=4",
                     timeout_s: float = 2.0) -> TtftResult:  # fmt: skip
    t0 = time.monotonic()
    connect_ms: float | None = None
    ttft_ms: float | None = None
    tokens = 0
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port)
            t1 = time.monotonic()
            connect_ms = (t1 - t0) * 1000
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream"
                         "\r\nConnection: close\r\n\r\n".encode())  # fmt: skip
            await writer.drain()
            status = await reader.readline()
            if b" 200 " not in status:
                return TtftResult(False, connect_ms, None, None, 0,
                                  f"HTTP {status.decode(errors='replace').strip()}")  # fmt: skip
            while (line := await reader.readline()) not in (b"", b"\r\n"):
                pass  # headers
            while line := await reader.readline():
                if line.startswith(b"data: [DONE]"):
                    break
                if line.startswith(b"data:"):
                    tokens += 1
                    if ttft_ms is None:
                        ttft_ms = (time.monotonic() - t1) * 1000
        total = (time.monotonic() - t0) * 1000
        if ttft_ms is None:
            return TtftResult(False, connect_ms, None, total, 0, "no token")
        return TtftResult(True, connect_ms, ttft_ms, total, tokens)
    except TimeoutError:
        return TtftResult(False, connect_ms, ttft_ms, None, tokens, f"timeout ({timeout_s:g} s)")
    except OSError as exc:
        return TtftResult(False, connect_ms, None, None, 0, exc.strerror or str(exc))
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
