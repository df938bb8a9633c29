"""The agent on loopback targets: missing secrets, a sink that is down at start."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, cablewatch_cmd
from pipeline_helpers import influx_counts, spool_report
from waiting import wait_until

from cablewatch.harness.stack import free_port, influxd

pytestmark = pytest.mark.servers


def _config(tmp: Path, port: int) -> Path:
    text = (DATA / "valid-loopback.toml").read_text()
    text = text.replace("interval_s = 5.0", "interval_s = 0.3")
    text = text.replace("timeout_s = 1.0", "timeout_s = 0.2")
    text = text.replace("http://127.0.0.1:18086", f"http://127.0.0.1:{port}")
    path = tmp / "agent.toml"
    path.write_text(text)
    return path


TOKEN_ENV = os.environ | {"CABLEWATCH_INFLUX_TOKEN": "not-checked-by-influxdb-1.6"}


@contextlib.contextmanager
def _agent(config: Path, spool: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``cablewatch agent`` for Singapore, logging to ``log``; killed if still running."""
    cmd = cablewatch_cmd("agent", "--config", str(config), "--region", "singapore",
                         "--spool", str(spool), "--host", "sg-probe-1")  # fmt: skip
    with log.open("wb") as out:
        agent = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=TOKEN_ENV)
    try:
        yield agent
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()


def _stop_and_count(
    agent: subprocess.Popen[bytes], spool: Path, url: str, log: Path
) -> tuple[dict[str, Any], dict[str, int]]:
    """SIGTERM (a clean exit), then the spool's report and the rounds InfluxDB holds."""
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(30) == 0, log.read_text()
    return spool_report(spool), influx_counts(url, "cablewatch")


def test_missing_secret_is_one_line_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CABLEWATCH_INFLUX_TOKEN"}
    proc = subprocess.run(
        cablewatch_cmd("agent", "--config", str(_config(tmp_path, 1)), "--region", "singapore",
                       "--spool", str(tmp_path / "s.db")),
        capture_output=True, text=True, env=env, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        "cablewatch: influxdb sink http://127.0.0.1:1: environment variable "
        "CABLEWATCH_INFLUX_TOKEN (sinks.influxdb.token_env) is not set\n"
    )
    assert not (tmp_path / "s.db").exists()  # failed before probing


def test_sink_down_at_start_spools_then_delivers_everything(tmp_path: Path) -> None:
    port = free_port()
    config = _config(tmp_path, port)
    spool = tmp_path / "s.db"
    log = tmp_path / "agent.log"
    with _agent(config, spool, log) as agent:
        deadline = time.monotonic() + 30
        while not (spool.exists() and spool_report(spool)["points_pending"]):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        time.sleep(3)  # keep probing with the sink down
        down = spool_report(spool)
        pending_while_down = down["points_pending"]
        rounds_while_down = sum(down["rounds"].values())
        with influxd(tmp_path / "influx", port=port) as server:
            subprocess.run(cablewatch_cmd("db", "init", "--config", str(config)), env=TOKEN_ENV,
                           check=True, capture_output=True)  # fmt: skip
            # the backlog is delivered once InfluxDB holds every round made while it was down;
            # the agent keeps probing, so the spool itself is never empty for long
            deadline = time.monotonic() + 60
            while sum(influx_counts(server.url, "cablewatch").values()) < rounds_while_down:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            report, counts = _stop_and_count(agent, spool, server.url, log)
    assert isinstance(pending_while_down, int)
    assert pending_while_down > 0
    assert report["points_pending"] == 0
    assert counts == report["rounds"]
    lines = log.read_text().splitlines()
    retries = [line for line in lines if "retrying in" in line]
    rounds = sum(counts.values())
    assert 1 <= len(retries) < rounds / 4  # per backoff, not per point
    assert all("influxdb sink http://127.0.0.1:" in line for line in retries)


def _targets(config: Path, port: int, interval_s: float, addresses: tuple[str, str]) -> None:
    """``config``: ICMP only, every ``interval_s``, to one address per cable."""
    text = _config(config.parent, port).read_text()
    text = text.replace("interval_s = 0.3", f"interval_s = {interval_s}")
    text = text.replace('["icmp", "tcp", "http", "dns"]', '["icmp"]')
    text = text.replace('address = "127.0.0.1"', f'address = "{addresses[0]}"')
    text = text.replace('address = "127.0.0.2"', f'address = "{addresses[1]}"')
    config.write_text(text)


def test_sighup_changes_targets_during_an_outage_without_losing_a_round(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "agent.toml"
    _targets(config, port, 0.3, ("127.0.0.1", "127.0.0.2"))
    spool = tmp_path / "s.db"
    log = tmp_path / "agent.log"
    old, new = "icmp|singapore|SJC|127.0.0.2", "icmp|singapore|SJC|127.0.0.3"

    def made() -> dict[str, int]:
        rounds: dict[str, int] = spool_report(spool)["rounds"]
        return rounds

    def logged(text: str) -> int:
        return log.read_text().count(text)

    with influxd(tmp_path / "influx", port=port) as server:
        subprocess.run(cablewatch_cmd("db", "init", "--config", str(config)), env=TOKEN_ENV,
                       check=True, capture_output=True)  # fmt: skip
        with _agent(config, spool, log) as agent:
            wait_until(lambda: influx_counts(server.url, "cablewatch").get(old, 0) >= 3, 30,
                       "rounds stored")  # fmt: skip
            server.stop()  # the outage
            wait_until(lambda: logged("retrying in") >= 1, 30, "the agent noticing the outage")
            # a file that does not load: refused, the agent probes on as it was
            config.write_text(config.read_text().replace("[probe]", "[probe", 1))
            agent.send_signal(signal.SIGHUP)
            wait_until(lambda: logged("refused, running configuration kept") == 1, 30,
                       "the refusal")  # fmt: skip
            n = made()[old]
            wait_until(lambda: made()[old] >= n + 3, 30, "rounds after the refusal")
            # SJC's target moves from 127.0.0.2 to 127.0.0.3, every 0.25 s
            _targets(config, port, 0.25, ("127.0.0.1", "127.0.0.3"))
            agent.send_signal(signal.SIGHUP)
            wait_until(lambda: made().get(new, 0) >= 10, 30, "rounds of the new target")
            left = made()[old]
            server.start()  # the outage ends
            wait_until(lambda: logged("takes writes again") >= 1, 60, "the sink back")
            report, counts = _stop_and_count(agent, spool, server.url, log)
    text = log.read_text()
    assert "reloaded " in text
    assert "2 probe jobs (were 2)" in text
    assert report["points_pending"] == 0
    assert report["rounds"][old] == left  # probing the old target stopped at the reload
    assert counts == report["rounds"]  # every round made is stored, none twice
    assert set(counts) == {"icmp|singapore|ADC|127.0.0.1", old, new}
