"""Paris traceroute packets on the wire (pure functions: build, parse; IPv4).

Load balancers pick a path by hashing a packet's flow identifier: the addresses, the protocol
and the first words of the transport header (for ICMP echo its type, code and checksum; for UDP
its ports). Classic traceroute changes those from probe to probe, so its probes may take
different paths and draw a route that does not exist. Paris traceroute (Augustin et al., IMC
2006) keeps them fixed for the whole trace and tells its probes apart by fields balancers do
not hash:

- ICMP echo: the sequence number varies, and two payload bytes cancel it in the checksum, so the
  checksum (hashed) never changes;
- UDP: ports and length are fixed; the checksum (not hashed by per-flow balancers) is steered to
  the probe's number by two payload bytes. We build the whole datagram, checksum included, so
  no checksum offload leaves a partial value in the packet that routers quote back.

An ICMP error (time exceeded, destination unreachable) quotes the probe's IP header and the
first 8 bytes of its transport header; :func:`parse_reply` finds the probe in the quote.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from cablewatch.probes.icmp_wire import ECHO_REPLY_V4, ECHO_REQUEST_V4, build_echo, ones_sum

__all__ = [
    "DEST_UNREACHABLE",
    "TIME_EXCEEDED",
    "Reply",
    "paris_echo",
    "paris_udp",
    "parse_reply",
    "unreachable_flag",
]

TIME_EXCEEDED, DEST_UNREACHABLE = 11, 3
PORT_UNREACHABLE = 3
_UDP = struct.Struct("!HHHH")
_IP = struct.Struct("!BBHHHBBH4s4s")
_FLAGS = {0: "!N", 1: "!H", 2: "!P", 9: "!X", 10: "!X", 13: "!X"}


def paris_echo(identifier: int, sequence: int, cookie: bytes) -> bytes:
    """An echo request whose checksum is the same for every ``sequence`` (0..0xFFFE): the
    last two payload bytes are 0xFFFF - sequence, so the two always add up to 0xFFFF."""
    if not 0 <= sequence < 0xFFFF:
        raise ValueError(f"sequence {sequence} outside 0..65534")
    return build_echo(False, identifier, sequence, cookie + struct.pack("!H", 0xFFFF - sequence))


def paris_udp(
    src: str, dst: str, sport: int, dport: int, ttl: int, checksum: int, fill: bytes
) -> bytes:
    """A whole IPv4/UDP probe (for an IP_HDRINCL socket) whose UDP checksum is ``checksum``
    (1..0xFFFE): ``fill`` (even length) and two balancing bytes are the payload. The kernel
    fills in the IP checksum and, as the ID is 0, an ID of its own."""
    if not 0 < checksum < 0xFFFF or len(fill) % 2:
        raise ValueError("checksum must be 1..65534 and fill of even length")
    length = _UDP.size + len(fill) + 2
    s, d = ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed
    pseudo = s + d + struct.pack("!BBH", 0, 17, length)
    base = ones_sum(pseudo + _UDP.pack(sport, dport, length, 0) + fill)
    # The sum the checksum complements must be ~checksum; in one's complement arithmetic
    # (mod 0xFFFF) the balancing word is that minus everything else.
    balance = ((~checksum & 0xFFFF) - base) % 0xFFFF
    udp = _UDP.pack(sport, dport, length, checksum) + fill + struct.pack("!H", balance)
    ip = _IP.pack(0x45, 0, 20 + len(udp), 0, 0, ttl, 17, 0, s, d)
    return ip + udp


@dataclass(frozen=True, slots=True)
class Reply:
    """What an ICMP message says about one of our probes."""

    kind: int
    """ICMP type: 0 echo reply, 3 destination unreachable, 11 time exceeded."""
    code: int
    source: str
    """Who sent it (the router, or the destination)."""
    protocol: int
    """The probe's protocol: 1 ICMP, 17 UDP."""
    destination: str
    """The probe's destination."""
    flow: int
    """ICMP: the echo identifier; UDP: the source port."""
    key: int
    """ICMP: the sequence; UDP: the checksum."""
    port: int = 0
    """UDP: the destination port."""


def parse_reply(data: bytes, source: str) -> Reply | None:
    """An ICMP message as read from a raw IPv4 ICMP socket (IP header first); None when it says
    nothing about an echo or UDP probe."""
    if len(data) < 20:
        return None
    off = (data[0] & 0x0F) * 4
    if len(data) < off + 8:
        return None
    kind, code = data[off], data[off + 1]
    if kind == ECHO_REPLY_V4:
        ident, seq = struct.unpack_from("!HH", data, off + 4)
        return Reply(kind, code, source, 1, source, ident, seq)
    if kind not in (TIME_EXCEEDED, DEST_UNREACHABLE):
        return None
    inner = off + 8
    if len(data) < inner + 20:
        return None
    ihl = (data[inner] & 0x0F) * 4
    proto = data[inner + 9]
    dst = str(ipaddress.IPv4Address(data[inner + 16 : inner + 20]))
    quote = inner + ihl
    if len(data) < quote + 8:
        return None
    if proto == 1:
        q_kind, _code, _sum, ident, seq = struct.unpack_from("!BBHHH", data, quote)
        if q_kind != ECHO_REQUEST_V4:
            return None
        return Reply(kind, code, source, 1, dst, ident, seq)
    if proto == 17:
        sport, dport, _len, csum = _UDP.unpack_from(data, quote)
        return Reply(kind, code, source, 17, dst, sport, csum, dport)
    return None


def unreachable_flag(code: int) -> str:
    """traceroute's mark for a destination-unreachable code other than 'port' ('' for it)."""
    if code == PORT_UNREACHABLE:
        return ""
    return _FLAGS.get(code, f"!<{code}>")
