"""Paris traceroute's packets and cable attribution, without a network (pure functions)."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from cablewatch.config import load_default
from cablewatch.probes.icmp_wire import checksum, fold_checksum, ones_sum
from cablewatch.probes.trace_wire import paris_echo, paris_udp, parse_reply
from cablewatch.topology.attribution import UNKNOWN, HopSeen, attribute, wet_segment


def test_paris_echo_keeps_the_checksum_for_every_sequence() -> None:
    packets = [paris_echo(0x1234, seq, b"cablewch") for seq in (1, 2, 77, 65000)]
    sums = {p[2:4] for p in packets}
    assert len(sums) == 1  # the flow identifier (type, code, checksum) never changes
    assert all(checksum(p) == 0 for p in packets)  # and each one is a valid checksum
    assert [struct.unpack_from("!H", p, 6)[0] for p in packets] == [1, 2, 77, 65000]


@pytest.mark.parametrize("want", [1, 2, 0x1234, 0x8000, 0xFFFE])
def test_paris_udp_steers_its_checksum_and_stays_valid(want: int) -> None:
    packet = paris_udp("198.18.16.1", "198.19.1.1", 40000, 33434, 5, want, b"cablewch")
    ip, udp = packet[:20], packet[20:]
    assert ip[8] == 5
    assert ip[9] == 17
    sport, dport, length, csum = struct.unpack_from("!HHHH", udp)
    assert (sport, dport, length, csum) == (40000, 33434, len(udp), want)
    pseudo = (
        ipaddress.IPv4Address("198.18.16.1").packed
        + ipaddress.IPv4Address("198.19.1.1").packed
        + struct.pack("!BBH", 0, 17, length)
    )
    assert fold_checksum(ones_sum(pseudo + udp)) == 0  # the receiver accepts it  # fmt: skip


def _time_exceeded(router: str, probe: bytes, dst: str, proto: int = 1) -> bytes:
    """What a router sends back: its IP header, ICMP 11/0, the probe's IP header + 8 bytes."""
    inner = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(probe), 0, 0, 1, proto, 0,
                        ipaddress.IPv4Address("198.18.16.1").packed,
                        ipaddress.IPv4Address(dst).packed) + probe[:8]  # fmt: skip
    outer = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, 1, 0,
                        ipaddress.IPv4Address(router).packed,
                        ipaddress.IPv4Address("198.18.16.1").packed)  # fmt: skip
    return outer + bytes([11, 0, 0, 0, 0, 0, 0, 0]) + inner


def test_a_time_exceeded_names_the_probe_it_quotes() -> None:
    probe = paris_echo(0x4242, 9, b"cablewch")
    reply = parse_reply(_time_exceeded("198.18.16.2", probe, "198.19.1.1"), "198.18.16.2")
    assert reply is not None
    assert (reply.kind, reply.source, reply.destination) == (11, "198.18.16.2", "198.19.1.1")
    assert (reply.protocol, reply.flow, reply.key) == (1, 0x4242, 9)
    udp = paris_udp("198.18.16.1", "198.19.1.1", 40001, 33434, 1, 7, b"cablewch")[20:]
    reply = parse_reply(_time_exceeded("198.18.16.2", udp, "198.19.1.1", 17), "198.18.16.2")
    assert reply is not None
    assert (reply.protocol, reply.flow, reply.key, reply.port) == (17, 40001, 7, 33434)
    assert parse_reply(b"\x45" + bytes(10), "x") is None  # too short: nothing


def _hops(*rows: tuple[str, str, float | None]) -> list[HopSeen]:
    return [HopSeen(i + 1, a, n, ms) for i, (a, n, ms) in enumerate(rows)]


def test_attribution_by_prefix_or_name_and_the_wet_segment() -> None:
    topo = load_default().topology
    floor = topo.region("singapore").paths["SJC"].floor_rtt_ms
    by_prefix = attribute(
        topo,
        "singapore",
        _hops(
            ("198.18.32.2", "", 0.05),
            ("198.18.0.6", "", floor + 0.1),
            ("198.19.2.1", "", floor + 0.2),
        ),
    )
    assert (by_prefix.cable, by_prefix.wet) == ("SJC", (1, 2))
    assert by_prefix.wet_jump_ms == pytest.approx(floor + 0.05)
    assert by_prefix.hop_cables == ("SJC", "", "")
    by_name = attribute(topo, "singapore", _hops(("10.0.0.1", "SJC-Tuas.", 0.05),
                        ("10.0.0.2", "sjc-shantou", floor)))  # fmt: skip
    assert (by_name.cable, by_name.hop_cables) == ("SJC", ("SJC", "SJC"))


def test_no_match_or_two_cables_is_unknown_never_a_guess() -> None:
    topo = load_default().topology
    none = attribute(topo, "singapore", _hops(("10.0.0.1", "core1", 0.1), ("10.0.0.2", "", 30)))
    assert none.cable == UNKNOWN
    assert "no hop matches" in none.reason
    assert none.wet is None
    two = attribute(topo, "singapore", _hops(("198.18.16.2", "", 0.1), ("198.18.32.2", "", 30)))
    assert (two.cable, two.reason) == (UNKNOWN, "hops match several cables: ADC, SJC")


def test_wet_segment_needs_half_the_floor_and_ignores_silent_hops() -> None:
    hops = _hops(("a", "", 1.0), ("", "", None), ("c", "", 16.0), ("d", "", 17.0))
    assert wet_segment(hops, 30.0) == ((1, 3), 15.0)  # the silent hop 2 is skipped
    assert wet_segment(hops, 40.0) == (None, None)  # 15 ms is not the ocean of a 40 ms floor
