"""Waiting for a condition with a deadline (never a fixed sleep)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes; returns its last value.
    For state that has no event to await (counters, files, other processes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() >= deadline:
            return condition()
        await asyncio.sleep(0.005)
    return True
