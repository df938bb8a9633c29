"""TCP, HTTP(S) and DNS probes against real servers on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from servers import free_port, http_server, silent_udp, tcp_listener

from cablewatch.errors import TargetError
from cablewatch.probes.dns import dns_probe
from cablewatch.probes.http import http_probe
from cablewatch.probes.targets import parse_host_port
from cablewatch.probes.tcp import tcp_probe


def test_tcp_connect_time(tcp_port: int) -> None:
    r = asyncio.run(tcp_probe(f"127.0.0.1:{tcp_port}"))
    assert r.status == "ok"
    assert 0 < r.phases_ms["connect"] < 1000


def test_tcp_over_ipv6() -> None:
    with tcp_listener("::1") as port:
        r = asyncio.run(tcp_probe(f"[::1]:{port}"))
    assert (r.status, r.address) == ("ok", "::1")


def test_tcp_refused() -> None:
    r = asyncio.run(tcp_probe(f"127.0.0.1:{free_port()}"))
    assert (r.status, r.error) == ("refused", "connection refused")
    assert "connect" not in r.phases_ms


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1:99999", "bad port '99999'"),
        ("127.0.0.1:http", "bad port 'http'"),
        ("127.0.0.1", "expected HOST:PORT"),
        ("::1:80", r"as \[ADDR\]:PORT"),
    ],
)
def test_malformed_targets(text: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        parse_host_port(text)


def test_http_phases(http_port: int) -> None:
    r = asyncio.run(http_probe(f"http://127.0.0.1:{http_port}/"))
    assert (r.status, r.http_status) == ("ok", 200)
    assert set(r.phases_ms) == {"dns", "connect", "first_byte", "transfer", "total"}
    parts = sum(r.phases_ms[p] for p in ("dns", "connect", "first_byte", "transfer"))
    assert parts <= r.phases_ms["total"]


def test_http_chunked_body(http_port: int) -> None:
    r = asyncio.run(http_probe(f"http://localhost:{http_port}/chunked"))
    assert (r.status, r.http_status, r.address) == ("ok", 200, "127.0.0.1")


def test_http_error_status(http_port: int) -> None:
    r = asyncio.run(http_probe(f"http://127.0.0.1:{http_port}/status/503"))
    assert (r.status, r.http_status, r.error) == ("bad_status", 503, "HTTP status 503")


def test_http_refused() -> None:
    r = asyncio.run(http_probe(f"http://127.0.0.1:{free_port()}/"))
    assert r.status == "refused"


def test_https_self_signed(tmp_path: Path) -> None:
    with http_server(tls_dir=tmp_path) as port:
        strict = asyncio.run(http_probe(f"https://localhost:{port}/"))
        relaxed = asyncio.run(http_probe(f"https://localhost:{port}/", verify_tls=False))
    assert strict.status == "tls_error"
    assert "CERTIFICATE_VERIFY_FAILED" in strict.error
    assert (relaxed.status, relaxed.http_status) == ("ok", 200)
    assert relaxed.phases_ms["tls"] > 0


def test_dns_answer(dns_port: int) -> None:
    r = asyncio.run(dns_probe("api.test", f"127.0.0.1:{dns_port}"))
    assert (r.status, r.dns_rcode, r.dns_answers) == ("ok", "NOERROR", ("127.0.0.7",))
    assert 0 < r.phases_ms["query"] < 1000


def test_dns_nxdomain_is_an_answer_with_a_time(dns_port: int) -> None:
    r = asyncio.run(dns_probe("nope.test", f"127.0.0.1:{dns_port}"))
    assert (r.status, r.dns_rcode) == ("bad_status", "NXDOMAIN")
    assert r.phases_ms["query"] > 0


def test_dns_silent_server_times_out() -> None:
    with silent_udp() as port:
        r = asyncio.run(dns_probe("api.test", f"127.0.0.1:{port}", timeout_s=0.3))
    assert (r.status, r.error) == ("timeout", "no answer within 0.3 s")
    assert r.phases_ms == {}
