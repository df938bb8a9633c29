"""The ttft probe over HTTPS: against the lab's streaming service behind TLS on loopback, with
a certificate from a private CA (openssl). Trusted, it measures the TLS handshake as its own
phase and streams every token; untrusted, it is a tls_error naming the verification, not a
time."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from tls_helpers import ca_and_server

from cablewatch.lab.services import stream_handler
from cablewatch.probes.result import ProbeResult
from cablewatch.probes.ttft import floor_ms, ttft_round

THINK_MS = 50.0


def _rounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ProbeResult, ProbeResult]:
    ca, cert, key = ca_and_server(tmp_path)

    async def go() -> tuple[ProbeResult, ProbeResult]:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        handler = stream_handler({"think_ms": THINK_MS, "token_ms": 5})
        server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ctx)
        port = server.sockets[0].getsockname()[1]
        async with server:
            monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the default context trusts the CA
            trusted = await ttft_round("127.0.0.1", port, scheme="https", timeout_s=5)
            monkeypatch.delenv("SSL_CERT_FILE")
            untrusted = await ttft_round("127.0.0.1", port, scheme="https", timeout_s=5)
        return trusted, untrusted

    return asyncio.run(go())


def test_ttft_over_https_times_the_handshake_and_refuses_an_unknown_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trusted, untrusted = _rounds(tmp_path, monkeypatch)
    assert trusted.status == "ok", trusted.error
    assert trusted.tokens == 4
    phases = trusted.phases_ms
    assert phases["tls"] > 0
    assert phases["ttft"] >= phases["connect"] + phases["tls"] + THINK_MS
    floor = floor_ms(phases, THINK_MS)
    assert floor is not None
    assert floor <= phases["ttft"] <= floor + 20, (floor, phases)
    assert untrusted.status == "tls_error"
    assert "CERTIFICATE_VERIFY_FAILED" in (untrusted.error or ""), untrusted.error
    assert "ttft" not in untrusted.phases_ms
