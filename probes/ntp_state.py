"""This host's clock as the kernel's NTP discipline sees it (``adjtimex``, read only): whether
it is synchronized, and the bound on its error that one-way delays must carry."""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["clock_error"]

_STA_UNSYNC = 0x0040
_UNKNOWN_S = 16.0
"""The kernel's maximum error once it has lost synchronization (NTP_PHASE_LIMIT): what is
assumed where adjtimex cannot be asked."""


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_padding", ctypes.c_int * 11),
    ]


def clock_error() -> tuple[bool, float]:
    """(synchronized, maximum error in seconds) of this host's clock: the kernel's
    ``maxerror`` (an unsynchronized clock's grows to 16 s)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = _Timex()
        if libc.adjtimex(ctypes.byref(tx)) < 0:
            return False, _UNKNOWN_S
    except (OSError, AttributeError):
        return False, _UNKNOWN_S
    synchronized = not tx.status & _STA_UNSYNC
    return synchronized, max(0, tx.maxerror) / 1e6
