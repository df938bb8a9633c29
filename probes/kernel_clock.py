"""The kernel's receive time of a packet (``SO_TIMESTAMPNS``), on the monotonic timeline; and
its send time (``SO_TIMESTAMPING``, software stamps from the socket's error queue).

A probe timed by its own wake-up counts its host's scheduling (0.1 ms on an idle VM here, up
to 5 ms beside two CPU hogs) as network time. The kernel stamps each packet as it arrives on
the socket; ``recvmsg`` hands the stamp over as ancillary data (for TCP: the newest segment the
call read). The stamp is wall-clock time: subtract the wall-minus-monotonic offset sampled when
reading, and keep it no later than the read itself.

Sending has the same error the other way: a clock read before ``send`` counts a preemption
between the two as network time. With ``enable_tx`` the kernel stamps each datagram as the
device takes it (``SOF_TIMESTAMPING_TX_SOFTWARE``; the stamp only, numbered from 0 in send
order, ``OPT_ID``) and queues the stamp on the socket's error queue; ``tx_stamps`` reads them.
A device that stamps nothing gives no stamp: the caller keeps its own clock read."""

from __future__ import annotations

import socket
import struct
import time

__all__ = [
    "ANC_SIZE",
    "SO_TIMESTAMPNS",
    "TIMESPEC",
    "TX_ANC_SIZE",
    "enable",
    "enable_tx",
    "offset_ns",
    "rx_monotonic_ns",
    "rx_wall_ns",
    "tx_stamps",
]

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESPEC = struct.Struct("qq")
ANC_SIZE = socket.CMSG_SPACE(TIMESPEC.size)
"""Room for the stamp in ``recvmsg``'s ancillary buffer."""


def enable(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


SO_TIMESTAMPING = getattr(socket, "SO_TIMESTAMPING", 37)
_TX_FLAGS = (1 << 1) | (1 << 4) | (1 << 7) | (1 << 11)
"""TX_SOFTWARE | SOFTWARE (report it) | OPT_ID (number each send) | OPT_TSONLY (no payload)."""
_EXTENDED_ERR = struct.Struct("IBBBBII")  # struct sock_extended_err
_ORIGIN_TIMESTAMPING = 4
_RECVERR = {(socket.SOL_IP, 11), (socket.IPPROTO_IPV6, 25)}  # IP_RECVERR, IPV6_RECVERR


TX_ANC_SIZE = ANC_SIZE + socket.CMSG_SPACE(3 * TIMESPEC.size)
"""Room for the receive stamp on a socket with ``enable_tx``: its software stamps are then
reported on received packets too (``SCM_TIMESTAMPING``, three timespecs), beside ours."""


def enable_tx(sock: socket.socket) -> None:
    """Stamp each datagram ``sock`` sends; read them with ``tx_stamps``. Received packets then
    carry a second stamp: read them with ``TX_ANC_SIZE`` of ancillary room."""
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, _TX_FLAGS)


def tx_stamps(sock: socket.socket) -> list[tuple[int, int]]:
    """The send stamps queued on ``sock`` (non-blocking, may be none yet): (the send's number
    from 0, wall-clock ns)."""
    out: list[tuple[int, int]] = []
    while True:
        try:
            _data, anc, _flags, _addr = sock.recvmsg(
                0, 256, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT
            )
        except (BlockingIOError, InterruptedError):
            return out
        wall, number = None, None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING:
                sec, nsec = TIMESPEC.unpack_from(payload)  # [0]: the software stamp
                wall = int(sec * 1_000_000_000 + nsec)
            elif (level, kind) in _RECVERR and len(payload) >= _EXTENDED_ERR.size:
                fields = _EXTENDED_ERR.unpack_from(payload)
                if fields[1] == _ORIGIN_TIMESTAMPING:
                    number = fields[6]  # ee_data: the OPT_ID counter
        if wall and number is not None:
            out.append((number, wall))


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
