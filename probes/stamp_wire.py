"""STAMP test packets on the wire (RFC 8762, unauthenticated mode; the SSID of RFC 8972):
pure functions to build and parse them, NTP timestamps, and the error estimate (RFC 4656).

Session-Sender test packet, 44 octets::

    sequence number (4) | timestamp (8) | error estimate (2) | SSID (2) | MBZ (28)

Session-Reflector test packet, 44 octets::

    sequence number (4) | timestamp (8) | error estimate (2) | SSID (2) |
    receive timestamp (8) | sender's sequence number (4) | sender's timestamp (8) |
    sender's error estimate (2) | MBZ (2) | sender's TTL (1) | MBZ (3)

The reflector's timestamp is when it sent its packet; its receive timestamp when the sender's
packet arrived. Error estimate: S (clock synchronized to UTC externally), Z (0: NTP format),
a 6-bit scale and an 8-bit multiplier: multiplier x 2^(scale - 32) seconds.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

__all__ = [
    "PORT",
    "SIZE",
    "ReflectorPacket",
    "SenderPacket",
    "build_reflector",
    "build_sender",
    "decode_error",
    "encode_error",
    "ns_from_ntp",
    "ntp_from_ns",
    "parse_reflector",
    "parse_sender",
    "stamped",
]

PORT = 862
"""The STAMP port (RFC 8762)."""
_SENDER = struct.Struct("!IQHH28x")
_REFLECTOR = struct.Struct("!IQHHQIQHxxB3x")
_NTP = struct.Struct("!Q")
SIZE = _SENDER.size
"""Both packets' size in unauthenticated mode (44 octets)."""
assert _REFLECTOR.size == SIZE
_NTP_EPOCH_S = 2_208_988_800
"""Seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)."""


def ntp_from_ns(unix_ns: int) -> int:
    """A Unix time in nanoseconds as a 64-bit NTP timestamp (32-bit seconds since 1900, 32-bit
    fraction), rounded down."""
    seconds, ns = divmod(unix_ns, 1_000_000_000)
    return ((seconds + _NTP_EPOCH_S) & 0xFFFFFFFF) << 32 | (ns << 32) // 1_000_000_000


def ns_from_ntp(ntp: int) -> int:
    """A 64-bit NTP timestamp as Unix nanoseconds (this NTP era), to the nearest."""
    seconds, fraction = ntp >> 32, ntp & 0xFFFFFFFF
    return (seconds - _NTP_EPOCH_S) * 1_000_000_000 + (fraction * 1_000_000_000 + (1 << 31) >> 32)


def encode_error(error_s: float, *, synchronized: bool) -> int:
    """The error estimate field for an error of ``error_s`` seconds: the smallest scale whose
    multiplier (1-255, never 0) covers it, rounded up (an estimate never claims better)."""
    if not error_s >= 0 or math.isinf(error_s):
        raise ValueError(f"error estimate must be finite and >= 0, got {error_s}")
    for scale in range(64):
        multiplier = math.ceil(error_s * 2.0 ** (32 - scale))
        if multiplier <= 255:
            return int(synchronized) << 15 | scale << 8 | max(1, multiplier)
    return int(synchronized) << 15 | 63 << 8 | 255


def decode_error(field: int) -> tuple[bool, float]:
    """(synchronized, error in seconds) of an error estimate field."""
    scale, multiplier = field >> 8 & 0x3F, field & 0xFF
    return bool(field >> 15), multiplier * 2.0 ** (scale - 32)


@dataclass(frozen=True, slots=True)
class SenderPacket:
    seq: int
    timestamp_ns: int
    error: int
    """The error estimate field (:func:`decode_error`)."""
    ssid: int = 0


@dataclass(frozen=True, slots=True)
class ReflectorPacket:
    seq: int
    """The reflector's own count (stateful: per session, from 0)."""
    timestamp_ns: int
    """When the reflector sent this packet."""
    error: int
    ssid: int
    receive_ns: int
    """When the sender's packet reached the reflector."""
    sender_seq: int
    sender_timestamp_ns: int
    sender_error: int
    sender_ttl: int
    """The TTL (hop limit) of the sender's packet as it arrived."""


def stamped(packet: bytes, unix_ns: int) -> bytes:
    """``packet`` (either kind) with its timestamp set to ``unix_ns``: built ahead, stamped
    just before it leaves, so that no packing is counted as path delay."""
    return packet[:4] + _NTP.pack(ntp_from_ns(unix_ns)) + packet[12:]


def build_sender(p: SenderPacket) -> bytes:
    return _SENDER.pack(p.seq, ntp_from_ns(p.timestamp_ns), p.error, p.ssid)


def parse_sender(data: bytes) -> SenderPacket:
    """Raises ValueError for a packet shorter than 44 octets."""
    if len(data) < SIZE:
        raise ValueError(f"a STAMP test packet is {SIZE} octets, got {len(data)}")
    seq, ts, error, ssid = _SENDER.unpack_from(data)
    return SenderPacket(seq, ns_from_ntp(ts), error, ssid)


def build_reflector(p: ReflectorPacket) -> bytes:
    return _REFLECTOR.pack(p.seq, ntp_from_ns(p.timestamp_ns), p.error, p.ssid,
                           ntp_from_ns(p.receive_ns), p.sender_seq,
                           ntp_from_ns(p.sender_timestamp_ns), p.sender_error,
                           p.sender_ttl)  # fmt: skip


def parse_reflector(data: bytes) -> ReflectorPacket:
    """Raises ValueError for a packet shorter than 44 octets."""
    if len(data) < SIZE:
        raise ValueError(f"a STAMP reflector packet is {SIZE} octets, got {len(data)}")
    seq, ts, error, ssid, rx, s_seq, s_ts, s_error, ttl = _REFLECTOR.unpack_from(data)
    return ReflectorPacket(seq, ns_from_ntp(ts), error, ssid, ns_from_ntp(rx), s_seq,
                           ns_from_ntp(s_ts), s_error, ttl)  # fmt: skip
