"""Enter a named network namespace for a moment (ctypes setns): sockets and TUN devices opened
inside keep it, so one process can probe from, or attach to, several namespaces."""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

from cablewatch.errors import CablewatchError

__all__ = ["netns"]

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def netns(name: str | None) -> Iterator[None]:
    """Run the body inside network namespace ``name`` (as in /run/netns); None: stay put.
    Affects the calling thread only; the original namespace is restored on exit."""
    if name is None:
        yield
        return
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        except FileNotFoundError:
            raise CablewatchError(f"no network namespace {name!r}") from None
        try:
            if _libc.setns(target, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise CablewatchError(f"cannot enter namespace {name!r}: {os.strerror(err)}")
        finally:
            os.close(target)
        try:
            yield
        finally:
            if _libc.setns(own, _CLONE_NEWNET) != 0:  # pragma: no cover - would be fatal
                raise RuntimeError("cannot return to the original network namespace")
    finally:
        os.close(own)
