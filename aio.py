"""Small asyncio helpers shared by the long-running processes (agent, sender, evaluator)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

__all__ = ["stop_on_signals", "wait_event"]


async def wait_event(event: asyncio.Event, timeout_s: float) -> None:
    """Until ``event`` is set or ``timeout_s`` passes, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout_s)


def stop_on_signals() -> asyncio.Event:
    """An event that SIGTERM and SIGINT set: how every long-running command is stopped."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
