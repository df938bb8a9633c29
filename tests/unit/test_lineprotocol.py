"""Line protocol: escaping and the schema, exactly."""

from __future__ import annotations

from cablewatch.collectors.lineprotocol import escape_key, line, result_lines
from cablewatch.probes.result import ProbeResult
from cablewatch.probes.stats import summarize


def test_escaping_of_tags_fields_and_measurements() -> None:
    text = line(
        "my measurement,x",
        {"region": "Kuala Lumpur", "note": 'a=b,c "d"', "city": "胡志明市", "empty": ""},
        {"msg": 'say "hi" \\ bye', "n": 3, "ok": True, "x": 1.5, "none": None},
        1700000000000000000,
    )
    assert text == (
        r"my\ measurement\,x,city=胡志明市,note=a\=b\,c\ "
        r'"d",region=Kuala\ Lumpur '
        r'msg="say \"hi\" \\ bye",n=3i,ok=true,x=1.5 1700000000000000000'
    )


def test_backslash_in_a_tag_value() -> None:
    assert escape_key("a\\b c") == "a\\\\b\\ c"


def test_ping_round_points() -> None:
    result = ProbeResult(
        "icmp", "198.19.1.1", "198.19.1.1", 1_000, "ok",
        rtts_ms=(30.5, None, 31.0), summary=summarize([30.5, None, 31.0]), ttl=62,
        labels={"region": "singapore", "cable": "ADC", "landing_station": "shantou"},
    )  # fmt: skip
    lines = result_lines(result, "probe-sg-1")
    tags = (
        "cable=ADC,host=probe-sg-1,landing_station=shantou,protocol=icmp,region=singapore,"
        "target=198.19.1.1"
    )
    assert lines[0].startswith(f'ping,{tags} status="ok",result_code=0i,packets_transmitted=3i,')
    assert "percent_packet_loss=33.333333333333336," in lines[0]
    assert "ttl=62i" in lines[0]
    assert lines[0].endswith(" 1000")
    assert lines[1:] == [
        f"ping_rtt,{tags} rtt_ms=30.5,seq=0i 1000",
        f"ping_rtt,{tags} rtt_ms=31.0,seq=2i 1002",
    ]
    assert result_lines(result, "probe-sg-1") == lines  # replays are identical


def test_full_loss_round_has_no_delay_fields() -> None:
    result = ProbeResult("icmp", "t", "198.19.1.1", 5, "loss", rtts_ms=(None,),
                         summary=summarize([None]))  # fmt: skip
    (point,) = result_lines(result, "h")
    assert "minimum_response_ms" not in point
    assert "percent_packet_loss=100.0" in point
    assert 'status="loss"' in point


def test_http_and_dns_points() -> None:
    http = ProbeResult("http", "u", "198.19.2.1", 7, "ok", phases_ms={"connect": 1.0, "total": 2.0},
                       http_status=200)  # fmt: skip
    assert result_lines(http, "h") == [
        'http,host=h,protocol=http,target=198.19.2.1 status="ok",result_code=0i,connect_ms=1.0,'
        "total_ms=2.0,http_status=200i 7"
    ]
    dns = ProbeResult("dns", "n@s", "198.19.2.1", 8, "bad_status", phases_ms={"query": 3.0},
                      dns_rcode="NXDOMAIN")  # fmt: skip
    assert result_lines(dns, "h") == [
        'dns,host=h,protocol=dns,target=198.19.2.1 status="bad_status",result_code=2i,'
        'query_ms=3.0,rcode="NXDOMAIN",answers=0i 8'
    ]
