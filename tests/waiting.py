"""Waiting for a condition with a deadline (never a fixed sleep)."""

from __future__ import annotations

import asyncio
import time
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


def wait_until(condition: Callable[[], object], timeout_s: float, what: str,
               poll_s: float = 0.1) -> object:  # fmt: skip
    """Poll ``condition`` until it returns something truthy (returned), or fail naming
    ``what`` after ``timeout_s``. For other processes, from synchronous tests."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(poll_s)
    return value
