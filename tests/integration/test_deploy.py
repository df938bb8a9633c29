"""The shipped Prometheus rules and configuration pass promtool's checks and unit tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cablewatch.harness.stack import need

pytestmark = pytest.mark.servers

PROM = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need("promtool"), *args], cwd=PROM, capture_output=True, text=True,
                          check=False)  # fmt: skip


def test_recording_rules_check() -> None:
    proc = _promtool("check", "rules", "recording.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 6 rules found" in proc.stdout


def test_recording_rules_unit_tests() -> None:
    proc = _promtool("test", "rules", "recording_test.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_example_config_checks() -> None:
    proc = _promtool("check", "config", "prometheus.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_generated_sla_rules_are_current(tmp_path: Path) -> None:
    """deploy/prometheus/sla.yml is what `cablewatch rules generate` makes of the default
    configuration's [[sla]] policies (regenerate after changing them)."""
    from conftest import cablewatch_cmd

    out = tmp_path / "sla.yml"
    proc = subprocess.run(cablewatch_cmd("rules", "generate", "--out", str(out)),
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"wrote 20 rules for 2 SLA policies to {out}"
    assert out.read_text() == (PROM / "sla.yml").read_text()


def test_sla_rules_check_and_unit_tests() -> None:
    proc = _promtool("check", "rules", "sla.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 20 rules found" in proc.stdout
    proc = _promtool("test", "rules", "sla_test.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_sla_rules_unit_tests_fail_on_a_changed_definition(tmp_path: Path) -> None:
    """The unit tests can fail: 'at or above' instead of 'above' the loss limit makes the
    minutes with exactly 5 % loss bad, and the burn rates change."""
    changed = (PROM / "sla.yml").read_text().replace("> bool 0.05)", ">= bool 0.05)")
    (tmp_path / "sla.yml").write_text(changed)
    (tmp_path / "sla_test.yml").write_text((PROM / "sla_test.yml").read_text())
    proc = subprocess.run([need("promtool"), "test", "rules", "sla_test.yml"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode != 0
    assert "1.1666666666666667E+02" in proc.stdout + proc.stderr  # 7 of 60 minutes, not 6


AM = PROM.parent / "alertmanager"


def _amtool(*args: str) -> str:
    proc = subprocess.run([need("amtool"), *args], cwd=AM, capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def test_alertmanager_example_config_checks() -> None:
    assert "SUCCESS" in _amtool("check-config", "alertmanager.yml")


def test_alertmanager_routes_by_customer_and_severity() -> None:
    def route(*labels: str) -> str:
        return _amtool("config", "routes", "test", "--config.file=alertmanager.yml", *labels)

    assert route("scope=cable", "severity=critical", "cable=ADC",
                 "customers=north-asia-fintech,sea-retail") == (
        "noc-pager,sea-retail-pager,north-asia-fintech-pager")  # fmt: skip
    assert route("scope=sla", "severity=critical", "customer=sea-retail") == "sea-retail-pager"
    assert route("scope=sla", "severity=warning", "customer=sea-retail") == "sea-retail"
    assert route("scope=path", "severity=warning", "customers=sea-retail") == "noc"


def test_nats_example_config_checks(tmp_path: Path) -> None:
    """deploy/nats/nats.conf passes `nats-server -t`; without the node's name in its
    environment, the same check fails (the check can fail)."""
    conf = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "nats.conf"
    text = conf.read_text().replace("/var/lib/nats/jetstream", str(tmp_path / "js"))
    local = tmp_path / "nats.conf"
    local.write_text(text)
    env = {"NATS_SERVER_NAME": "nats-1", "CABLEWATCH_NATS_TOKEN": "x", "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([need("nats-server"), "-c", str(local), "-t"], capture_output=True,
                        text=True, check=False, env=env)  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    del env["NATS_SERVER_NAME"]
    bad = subprocess.run([need("nats-server"), "-c", str(local), "-t"], capture_output=True,
                         text=True, check=False, env=env)  # fmt: skip
    assert bad.returncode != 0
    assert "NATS_SERVER_NAME" in bad.stdout + bad.stderr
