"""Small asyncio helpers shared by the long-running processes (agent, sender, evaluator)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

__all__ = ["first_of", "signal_event", "stop_on_signals", "wait_event"]


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


def signal_event(sig: signal.Signals) -> asyncio.Event:
    """An event that ``sig`` sets (SIGHUP: reload the configuration); the waiter clears it."""
    event = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(sig, event.set)
    return event


async def first_of(*events: asyncio.Event) -> asyncio.Event:
    """Wait until one of ``events`` is set; return the first of them (in the order given) that
    is."""
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
    return next(e for e in events if e.is_set())
