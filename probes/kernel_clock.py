"""The kernel's receive time of a packet (``SO_TIMESTAMPNS``), on the monotonic timeline.

A probe timed by its own wake-up counts its host's scheduling (0.1 ms on an idle VM here, up
to 5 ms beside two CPU hogs) as network time. The kernel stamps each packet as it arrives on
the socket; ``recvmsg`` hands the stamp over as ancillary data (for TCP: the newest segment the
call read). The stamp is wall-clock time: subtract the wall-minus-monotonic offset sampled when
reading, and keep it no later than the read itself."""

from __future__ import annotations

import socket
import struct
import time

__all__ = [
    "ANC_SIZE",
    "SO_TIMESTAMPNS",
    "TIMESPEC",
    "enable",
    "offset_ns",
    "rx_monotonic_ns",
    "rx_wall_ns",
]

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESPEC = struct.Struct("qq")
ANC_SIZE = socket.CMSG_SPACE(TIMESPEC.size)
"""Room for the stamp in ``recvmsg``'s ancillary buffer."""


def enable(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


def offset_ns() -> int:
    """Wall clock minus monotonic clock, now: sample it once per batch of reads."""
    return time.time_ns() - time.monotonic_ns()


def rx_wall_ns(anc: list[tuple[int, int, bytes]]) -> int | None:
    """The kernel's receive time in ``recvmsg``'s ancillary data, wall clock; None if absent."""
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = TIMESPEC.unpack_from(payload)
            return int(sec * 1_000_000_000 + nsec)
    return None


def rx_monotonic_ns(anc: list[tuple[int, int, bytes]], offset: int) -> int | None:
    """The kernel's receive time in ``recvmsg``'s ancillary data, monotonic; None if absent."""
    wall = rx_wall_ns(anc)
    return None if wall is None else wall - offset
