"""The shipped Prometheus rules and configuration pass promtool's checks and unit tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cablewatch.lab.stack import need

PROM = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"


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
