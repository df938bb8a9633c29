"""STAMP packets (RFC 8762 / 8972) built and parsed by our code and by scapy's
``scapy.contrib.stamp``, an implementation we did not write, field by field; and the
reflector's answers (pure: no socket)."""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from pathlib import Path

import pytest
from scapy.contrib.stamp import (
    ErrorEstimate,
    STAMPSessionReflectorTestUnauthenticated,
    STAMPSessionSenderTestUnauthenticated,
)

from cablewatch.config import load
from cablewatch.errors import ConfigError
from cablewatch.harness.synthetic import write_config
from cablewatch.probes import stamp_wire as w
from cablewatch.reflector.stamp import Reflector

pytestmark = pytest.mark.unit

T_NS = 1_796_649_293_976_570_514
"""A wall-clock time with every nanosecond digit set."""
NTP_EPOCH_NS = 2_208_988_800 * 10**9


def _ntp_decimal(unix_ns: int) -> Decimal:
    """A time as scapy's TimeStampField holds it: NTP seconds, exactly."""
    return Decimal(w.ntp_from_ns(unix_ns)) / Decimal(2**32)


def _scapy_ns(value: Decimal) -> int:
    """Scapy's NTP seconds as Unix nanoseconds."""
    return int(value * 10**9) - NTP_EPOCH_NS


def test_ntp_timestamps_round_trip_to_the_nanosecond() -> None:
    assert w.ntp_from_ns(0) == 2_208_988_800 << 32
    for ns in (0, 1, 999_999_999, T_NS, T_NS + 123):
        assert w.ns_from_ntp(w.ntp_from_ns(ns)) == ns


@pytest.mark.parametrize("error_s", [0.0, 1e-9, 0.001, 0.25, 16.0])
def test_the_error_estimate_covers_the_error_and_scapy_reads_its_bits(error_s: float) -> None:
    field = w.encode_error(error_s, synchronized=True)
    synchronized, decoded = w.decode_error(field)
    assert synchronized
    assert decoded >= error_s
    # one step of the multiplier above it at most: 1/128 of it, or 2^-32 s at scale 0
    assert decoded - error_s <= max(error_s / 128, 2.0**-32)
    theirs = ErrorEstimate(field.to_bytes(2, "big"))
    assert (theirs.S, theirs.Z) == (1, 0)
    assert theirs.multiplier * 2.0 ** (theirs.scale - 32) == decoded
    assert theirs.multiplier >= 1  # never 0 (RFC 4656)
    assert w.decode_error(w.encode_error(0.5, synchronized=False))[0] is False
    with pytest.raises(ValueError, match="finite"):
        w.encode_error(float("nan"), synchronized=True)


def test_scapy_reads_our_session_sender_packet_field_by_field() -> None:
    error = w.encode_error(0.001, synchronized=True)
    data = w.build_sender(w.SenderPacket(7, T_NS, error, 0x1234))
    assert len(data) == w.SIZE == 44
    p = STAMPSessionSenderTestUnauthenticated(data)
    assert (p.seq, p.ssid, p.mbz, p.tlv_objects) == (7, 0x1234, 0, [])
    assert abs(_scapy_ns(p.ts) - T_NS) <= 1
    assert bytes(p.err_estimate) == error.to_bytes(2, "big")


def test_we_read_scapys_session_sender_packet() -> None:
    theirs = STAMPSessionSenderTestUnauthenticated(
        seq=9, ts=_ntp_decimal(T_NS), err_estimate=ErrorEstimate(S=1, scale=5, multiplier=3),
        ssid=77)  # fmt: skip
    got = w.parse_sender(bytes(theirs))
    assert got == w.SenderPacket(9, T_NS, 1 << 15 | 5 << 8 | 3, 77)
    with pytest.raises(ValueError, match="44 octets, got 43"):
        w.parse_sender(bytes(theirs)[:43])


def test_our_reflector_answers_scapys_sender_and_scapy_reads_the_answer() -> None:
    reflector = Reflector(allow=[ipaddress.ip_network("198.19.0.0/16")],
                          error=w.encode_error(0.002, synchronized=False))  # fmt: skip
    sent = STAMPSessionSenderTestUnauthenticated(
        seq=41, ts=_ntp_decimal(T_NS), err_estimate=ErrorEstimate(S=1, scale=10, multiplier=7),
        ssid=500)  # fmt: skip
    rx, tx = T_NS + 30_000_123, T_NS + 30_050_456
    replies = [reflector.answer(bytes(sent), ("198.19.3.2", 40000), rx, 61, tx) for _ in range(3)]
    for k, reply in enumerate(replies):
        assert reply is not None
        assert len(reply) == len(bytes(sent))  # never more than it got
        r = STAMPSessionReflectorTestUnauthenticated(reply)
        assert r.seq == k  # stateful: the reflector's own count in this session
        assert (r.seq_sender, r.ssid, r.ttl_sender) == (41, 500, 61)
        assert abs(_scapy_ns(r.ts_sender) - T_NS) <= 1  # the sender's timestamp, echoed
        assert abs(_scapy_ns(r.ts_rx) - rx) <= 1
        assert abs(_scapy_ns(r.ts) - tx) <= 1
        assert bytes(r.err_estimate_sender) == bytes(sent.err_estimate)
        assert (r.err_estimate.S, r.err_estimate.Z) == (0, 0)
        assert (r.mbz1, r.mbz2) == (0, 0)
    # another session (another port, or another SSID) counts from 0 again
    other = reflector.answer(bytes(sent), ("198.19.3.2", 40001), rx, 61, tx)
    assert other is not None
    assert STAMPSessionReflectorTestUnauthenticated(other).seq == 0


def test_the_reflector_is_no_amplifier_and_answers_only_whom_it_may() -> None:
    reflector = Reflector(allow=[ipaddress.ip_network("198.19.0.0/16")])
    packet = w.build_sender(w.SenderPacket(1, T_NS, 0, 9))
    assert reflector.answer(packet, ("203.0.113.9", 862), T_NS, 64, T_NS) is None
    assert reflector.answer(packet[:40], ("198.19.0.5", 862), T_NS, 64, T_NS) is None
    padded = packet + bytes(100)  # a longer request gets as long an answer, no longer
    reply = reflector.answer(padded, ("198.19.0.5", 862), T_NS, 64, T_NS)
    assert reply is not None
    assert len(reply) == len(padded)
    assert (reflector.stats.refused, reflector.stats.malformed, reflector.stats.reflected) == (
        1, 1, 1)  # fmt: skip
    mapped = reflector.answer(packet, ("::ffff:198.19.0.5", 862), T_NS, 64, T_NS)
    assert mapped is not None  # an IPv4 sender on a dual-stack socket is still itself
    nobody = Reflector()
    assert nobody.answer(packet, ("198.19.0.5", 862), T_NS, 64, T_NS) is None
    anyone = Reflector(allow_any=True)
    assert anyone.answer(packet, ("203.0.113.9", 862), T_NS, 64, T_NS) is not None


def test_a_packet_packed_ahead_is_stamped_as_it_leaves_and_nothing_else_changes() -> None:
    ahead = w.build_sender(w.SenderPacket(5, 0, 7, 9))
    assert w.parse_sender(w.stamped(ahead, T_NS)) == w.SenderPacket(5, T_NS, 7, 9)
    reply = w.build_reflector(w.ReflectorPacket(1, 0, 2, 9, T_NS - 5, 5, T_NS - 9, 7, 60))
    got = w.parse_reflector(w.stamped(reply, T_NS))
    assert got == w.ReflectorPacket(1, T_NS, 2, 9, T_NS - 5, 5, T_NS - 9, 7, 60)


def test_one_second_rounds_that_name_no_stamp_key_stay_valid(tmp_path: Path) -> None:
    """The stamp protocol's default spacing closes up to fit a short interval (a file written
    before the protocol existed, 1 s rounds with a 0.5 s timeout, must still load); a spacing
    given that cannot fit is an error naming its key."""
    fits = write_config(tmp_path / "fits.toml", "http://127.0.0.1:8086", "db", 2, 5)
    stamp = load(fits).probe.protocols["stamp"]
    assert stamp.interval_s == 1.0
    assert (stamp.stamp_packets - 1) * stamp.stamp_packet_interval_s + stamp.timeout_s <= 1.0
    bad = tmp_path / "bad.toml"
    bad.write_text(
        fits.read_text().replace("[probe]\n", "[probe]\nstamp_packet_interval_s = 0.2\n")
    )
    with pytest.raises(ConfigError, match=r"probe\.stamp_interval_s: got 1, but a round of 5"):
        load(bad)
