"""The probe registry: one spec per protocol, and everything that differs by protocol comes
from it (settings, stored points, CLI columns, what the configuration accepts)."""

from __future__ import annotations

import pytest

from cablewatch.collectors.lineprotocol import result_lines
from cablewatch.config import load_default
from cablewatch.errors import CablewatchError
from cablewatch.probes.registry import PROBES, PROTOCOLS, spec
from cablewatch.probes.result import Hop, OneWay, ProbeResult, Trace
from cablewatch.probes.stats import summarize
from cablewatch.terminal.render import results_table

SAMPLES = {
    "icmp": ProbeResult("icmp", "t", "198.19.1.1", 10**18, "ok", rtts_ms=(30.5, None, 31.0),
                        summary=summarize([30.5, None, 31.0]), ttl=62),
    "tcp": ProbeResult("tcp", "t", "198.19.1.1", 10**18, "ok", phases_ms={"connect": 30.2}),
    "http": ProbeResult("http", "t", "198.19.1.1", 10**18, "ok", http_status=200,
                        phases_ms={"connect": 30.0, "first_byte": 31.0, "total": 62.0}),
    "dns": ProbeResult("dns", "t", "198.19.1.1", 10**18, "ok", phases_ms={"query": 30.4},
                       dns_rcode="NOERROR", dns_answers=("198.19.1.1",)),
    "trace": ProbeResult("trace", "t", "198.19.1.1", 10**18, "ok", rtts_ms=(30.7, 30.6),
                         trace=Trace("icmp", (Hop(1, "198.18.16.2", (0.05, None), "adc-tuas",
                                                  cable="ADC"),
                                              Hop(2, "198.18.0.2", (30.6, 30.7), "adc-shantou",
                                                  cable="ADC"),
                                              Hop(3, "198.19.1.1", (30.7, 30.6))),
                                     True, "ADC", (1, 2), 30.55)),
    "ttft": ProbeResult("ttft", "t", "198.19.1.1", 10**18, "ok", tokens=4,
                        phases_ms={"connect": 30.0, "request": 0.1, "first_token": 230.5,
                                   "ttft": 260.6, "stream": 60.0, "total": 320.9,
                                   "floor": 260.0}),
    "stamp": ProbeResult("stamp", "t", "198.19.1.1", 10**18, "ok", rtts_ms=(60.2, None),
                         summary=summarize([60.2, None]), ttl=61,
                         oneway=OneWay((30.1, None), (30.1, None), lost_reverse=1,
                                       error_bound_ms=0.5, synchronized=True)),
}  # fmt: skip


def test_every_protocol_has_a_sample_here() -> None:
    assert sorted(PROTOCOLS) == sorted(SAMPLES)


@pytest.mark.parametrize("protocol", sorted(SAMPLES))
def test_spec_settings_points_and_columns(protocol: str) -> None:
    probe = spec(protocol)
    settings = load_default().probe.protocols[protocol]
    assert settings.interval_s > 0
    assert settings.timeout_s > 0
    lines = result_lines(SAMPLES[protocol], "probe-host")
    assert lines
    assert all(",protocol=" + protocol in ln for ln in lines)
    assert lines[0].startswith(probe.points(SAMPLES[protocol])[0].measurement + ",")
    [table] = results_table([SAMPLES[protocol]])
    headers = [str(c.header) for c in table.columns]
    assert headers == ["target", "status", *(c.header for c in probe.columns)]


def test_icmp_stores_a_round_and_each_reply() -> None:
    lines = result_lines(SAMPLES["icmp"], "h")
    assert [ln.split(",")[0] for ln in lines] == ["ping", "ping_rtt", "ping_rtt"]
    assert lines[2].endswith(f" {10**18 + 2}")  # packet i at the round's start + i ns


def test_unknown_protocol_is_one_clear_error() -> None:
    with pytest.raises(CablewatchError, match=r"unknown probe protocol 'smtp' \(known: icmp"):
        spec("smtp")


def test_registry_names_match_their_specs() -> None:
    assert all(name == s.protocol for name, s in PROBES.items())


def test_a_trace_stores_one_point_and_a_point_per_hop() -> None:
    lines = result_lines(SAMPLES["trace"], "h")
    assert [ln.split(",")[0] for ln in lines] == ["trace", "trace_hop", "trace_hop", "trace_hop"]
    head = lines[0]
    assert 'route_cable="ADC"' in head
    assert 'hops="198.18.16.2 198.18.0.2 198.19.1.1"' in head
    assert "wet_from_ttl=1i" in head
    assert "wet_to_ttl=2i" in head
    assert "wet_jump_ms=30.55" in head
    assert "hop_count=3i" in head
    assert "rtt_ms=30.6" in head
    assert lines[1].endswith(f" {10**18 + 1}")
    assert "loss_pct=50.0" in lines[1]
    assert 'name="adc-shantou"' in lines[2]
    assert "wet=true" in lines[2]
    assert "wet=false" in lines[3]
    assert "cable=" not in lines[3].split(" ")[1]


def test_ttft_stores_its_phases_tokens_and_rate() -> None:
    [point] = result_lines(SAMPLES["ttft"], "h")
    assert point.startswith("ttft,")
    for field in ("connect_ms=30.0", "first_token_ms=230.5", "ttft_ms=260.6", "floor_ms=260.0",
                  "tokens=4i", "tokens_per_s=50.0"):  # fmt: skip
        assert field in point


def test_a_stamp_round_stores_both_directions_and_their_loss() -> None:
    [point] = result_lines(SAMPLES["stamp"], "h")
    assert point.startswith("stamp,")
    for field in (
        "forward_median_ms=30.1",
        "reverse_median_ms=30.1",
        "rtt_median_ms=60.2",
        "lost_forward=0i",
        "lost_reverse=1i",
        "lost_unknown=0i",
        "error_bound_ms=0.5",
        "synchronized=true",
        "packets_received=1i",
        "ttl=61i",
    ):
        assert field in point, field
