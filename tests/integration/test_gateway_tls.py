"""The gateway API over HTTPS: a certificate signed by a self-signed CA (openssl), `serve`
with tls_cert_file / tls_key_file. A client that trusts the CA gets its answers; one that does
not is refused the handshake; plain HTTP gets nothing; a key that does not match the
certificate stops `serve` at start with one line."""

from __future__ import annotations

import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import cablewatch_cmd
from tls_helpers import ca_and_server

from cablewatch.harness.stack import agent_config, evaluator, free_port, influxd

pytestmark = pytest.mark.servers

TOKEN = "tls-token-42"


def test_the_api_over_https_with_a_private_ca(tmp_path: Path) -> None:
    ca, cert, key = ca_and_server(tmp_path)
    with influxd(tmp_path / "influx") as ifx:
        config = agent_config(tmp_path / "cw.toml", ifx.url, icmp_only=True)
        port = free_port()
        (tmp_path / "tokens").write_text(TOKEN + "\n")
        base = config.read_text()
        with config.open("a") as f:
            f.write(f'[api]\nlisten_host = "127.0.0.1"\nlisten_port = {port}\n'
                    f'tokens_file = "{tmp_path / "tokens"}"\ntls_cert_file = "{cert}"\n'
                    f'tls_key_file = "{key}"\n')  # fmt: skip
        url = f"https://127.0.0.1:{port}"
        log = tmp_path / "serve.log"
        with evaluator(config, log, f"127.0.0.1:{free_port()}", command="serve") as proc:
            trusted = ssl.create_default_context(cafile=str(ca))
            deadline = time.monotonic() + 30
            while True:
                try:
                    r = httpx.get(f"{url}/v1/cables", verify=trusted, timeout=2,
                                  headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
                    break
                except httpx.ConnectError:
                    assert proc.poll() is None, log.read_text()[-2000:]
                    assert time.monotonic() < deadline, log.read_text()[-2000:]
                    time.sleep(0.1)
            assert r.status_code == 200
            assert [c["cable"] for c in r.json()["cables"]] == ["ADC", "SJC", "APCN-2"]
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                httpx.get(f"{url}/healthz", timeout=5)  # the system's CAs do not know ours
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        # a key that is not the certificate's: refused at start, in one line
        config.write_text(base + f'[api]\nlisten_port = {free_port()}\ntokens_file = '
                          f'"{tmp_path / "tokens"}"\ntls_cert_file = "{cert}"\n'
                          f'tls_key_file = "{tmp_path / "ca.key"}"\n')  # fmt: skip
        bad = subprocess.run(cablewatch_cmd("serve", "--config", str(config)),
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert bad.returncode == 2
        assert "cannot use api.tls_cert_file" in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
