"""ICMP / ICMPv6 echo packets on the wire (pure functions: build, checksum, parse)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "ECHO_REPLY_V4",
    "ECHO_REPLY_V6",
    "ECHO_REQUEST_V4",
    "ECHO_REQUEST_V6",
    "Echo",
    "build_echo",
    "checksum",
    "fold_checksum",
    "ones_sum",
    "parse_echo",
]

ECHO_REQUEST_V4, ECHO_REPLY_V4 = 8, 0
ECHO_REQUEST_V6, ECHO_REPLY_V6 = 128, 129
_HEADER = struct.Struct("!BBHHH")


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    return fold_checksum(ones_sum(data))


def ones_sum(data: bytes) -> int:
    """Unfolded one's-complement sum of 16-bit words (for incremental checksums)."""
    if len(data) % 2:
        data += b"\x00"
    return int(sum(struct.unpack(f"!{len(data) // 2}H", data)))


def fold_checksum(total: int) -> int:
    """Fold a ones_sum into the final 16-bit Internet checksum."""
    while total >> 16:
        total = (total >> 16) + (total & 0xFFFF)
    return ~total & 0xFFFF


def build_echo(v6: bool, identifier: int, sequence: int, payload: bytes) -> bytes:
    """An echo request. The IPv4 checksum is filled in; for ICMPv6 the kernel computes it."""
    kind = ECHO_REQUEST_V6 if v6 else ECHO_REQUEST_V4
    packet = _HEADER.pack(kind, 0, 0, identifier, sequence) + payload
    if v6:
        return packet
    return _HEADER.pack(kind, 0, checksum(packet), identifier, sequence) + payload


@dataclass(frozen=True, slots=True)
class Echo:
    type: int
    identifier: int
    sequence: int
    payload: bytes
    ttl: int | None


def parse_echo(data: bytes, *, has_ip_header: bool) -> Echo | None:
    """Parse an ICMP(v6) message; ``has_ip_header`` for IPv4 raw sockets. None if too short."""
    ttl: int | None = None
    if has_ip_header:
        if len(data) < 20:
            return None
        ihl = (data[0] & 0x0F) * 4
        ttl = data[8]
        data = data[ihl:]
    if len(data) < _HEADER.size:
        return None
    kind, _code, _csum, ident, seq = _HEADER.unpack_from(data)
    return Echo(kind, ident, seq, data[_HEADER.size :], ttl)
