"""The CLI's spot checks on loopback: output, JSON, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import DATA, cablewatch_cmd
from servers import free_port
from typer.testing import CliRunner

from cablewatch.cli import app

runner = CliRunner()


def test_ping_json_gives_five_rtts_and_no_loss() -> None:
    proc = subprocess.run(
        cablewatch_cmd("ping", "127.0.0.1", "-c", "5", "--json"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert len(result["rtts_ms"]) == 5
    assert all(isinstance(rtt, float) and rtt > 0 for rtt in result["rtts_ms"])
    assert result["percent_packet_loss"] == 0.0
    assert result["loss_pct"] == 0.0
    assert result["packets_transmitted"] == result["packets_received"] == 5


def test_ping_table_for_several_targets() -> None:
    result = runner.invoke(app, ["ping", "127.0.0.1", "::1", "-c", "2", "-i", "0.01"])
    assert result.exit_code == 0, result.output
    assert "127.0.0.1" in result.output
    assert "::1" in result.output
    assert "loss%" in result.output


def test_unknown_host_is_a_failed_target() -> None:
    result = runner.invoke(app, ["ping", "no-such-host.invalid", "-c", "1", "--json"])
    assert result.exit_code == 1
    (row,) = json.loads(result.stdout)
    assert row["status"] == "resolve_error"
    assert row["result_code"] == 1


def test_bad_port_is_a_usage_error() -> None:
    result = runner.invoke(app, ["tcp", "127.0.0.1:99999"])
    assert result.exit_code == 2
    assert result.stderr == (
        "cablewatch: bad port '99999' in '127.0.0.1:99999': expected a number from 1 to 65535\n"
    )


def test_bad_url_is_a_usage_error() -> None:
    result = runner.invoke(app, ["http", "ftp://127.0.0.1/"])
    assert result.exit_code == 2
    assert "expected http:// or https://" in result.stderr


def test_tcp_ok_and_refused(tcp_port: int) -> None:
    ok = runner.invoke(app, ["tcp", f"127.0.0.1:{tcp_port}", "--json"])
    assert ok.exit_code == 0
    assert json.loads(ok.stdout)[0]["phases_ms"]["connect"] > 0
    refused = runner.invoke(app, ["tcp", f"127.0.0.1:{free_port()}"])
    assert refused.exit_code == 1
    assert "refused" in refused.stdout


def test_http_and_dns(http_port: int, dns_port: int) -> None:
    http = runner.invoke(app, ["http", f"http://127.0.0.1:{http_port}/", "--json"])
    assert http.exit_code == 0, http.output
    assert json.loads(http.stdout)[0]["http_status"] == 200
    dns = runner.invoke(app, ["dns", "api.test", "--server", f"127.0.0.1:{dns_port}", "--json"])
    assert dns.exit_code == 0, dns.output
    assert json.loads(dns.stdout)[0]["dns_answers"] == ["127.0.0.7"]
    nx = runner.invoke(app, ["dns", "nope.test", "-s", f"127.0.0.1:{dns_port}"])
    assert nx.exit_code == 1
    assert "NXDOMAIN" in nx.stdout


@pytest.fixture
def loopback_config(tmp_path: Path, tcp_port: int, http_port: int, dns_port: int) -> Path:
    text = (DATA / "valid-loopback.toml").read_text()
    text = text.replace("tcp_port = 1", f"tcp_port = {tcp_port}")
    text = text.replace("http_port = 1", f"http_port = {http_port}")
    text = text.replace("dns_port = 1", f"dns_port = {dns_port}")
    path = tmp_path / "loopback.toml"
    path.write_text(text)
    return path


def test_probe_region_runs_every_protocol_of_every_cable(loopback_config: Path) -> None:
    result = runner.invoke(app, ["probe", "Singapore", "--config", str(loopback_config), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["labels"]["cable"], r["protocol"]) for r in rows] == [
        ("ADC", "icmp"),
        ("ADC", "tcp"),
        ("ADC", "http"),
        ("ADC", "dns"),
        ("SJC", "icmp"),
    ]
    assert all(r["success"] for r in rows)
    assert {r["labels"]["region"] for r in rows} == {"singapore"}


def test_probe_region_one_cable_table(loopback_config: Path) -> None:
    result = runner.invoke(
        app, ["probe", "singapore", "--cable", "sjc", "--config", str(loopback_config)]
    )
    assert result.exit_code == 0, result.output
    assert "SJC" in result.stdout
    assert "ADC" not in result.stdout
    assert "34.200" in result.stdout  # the SJC path's floor (2 x 17.1 ms) beside the measurement


def test_probe_unknown_region_or_cable(loopback_config: Path) -> None:
    bad_region = runner.invoke(app, ["probe", "paris", "--config", str(loopback_config)])
    assert bad_region.exit_code == 2
    assert bad_region.stderr.startswith("cablewatch: unknown region 'paris' (known: singapore)")
    bad_cable = runner.invoke(
        app, ["probe", "singapore", "--cable", "SMW3", "--config", str(loopback_config)]
    )
    assert bad_cable.exit_code == 2
    assert "unknown cable 'SMW3' (known: ADC, SJC)" in bad_cable.stderr


def test_usage_errors_exit_2() -> None:
    assert runner.invoke(app, ["ping"]).exit_code == 2
    assert runner.invoke(app, ["ping", "127.0.0.1", "-c", "0"]).exit_code == 2
    assert runner.invoke(app, ["dns", "api.test"]).exit_code == 2  # --server is required
