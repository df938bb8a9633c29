"""`cablewatch agent --shards 2` on loopback targets (raw ICMP: root; CI is root): two agent
processes, each a disjoint share of the targets with its own spool and metrics port; a shard
killed with SIGKILL is restarted on its spool without touching the other; a second process
told the same shard is refused with the owner's pid; SIGTERM stops them all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from conftest import DATA, cablewatch_cmd
from pipeline_helpers import spool_report
from waiting import wait_until

from cablewatch.harness.stack import free_port

pytestmark = pytest.mark.servers


def _config(tmp: Path) -> Path:
    """The loopback configuration, 1 s rounds, 10 ICMP targets on ADC, no sink (spool only)."""
    text = (DATA / "valid-loopback.toml").read_text().split("[sinks.influxdb]")[0]
    text = text.replace("interval_s = 5.0", "interval_s = 1.0").replace(
        "timeout_s = 1.0", "timeout_s = 0.2")  # fmt: skip
    text += "".join(f'\n[[targets]]\ncable = "ADC"\naddress = "127.0.1.{i}"\n'
                    'protocols = ["icmp"]\n' for i in range(1, 11))  # fmt: skip
    path = tmp / "shards.toml"
    path.write_text(text)
    return path


def _pids(log: Path) -> dict[int, int]:
    """The newest pid of each shard, as the parent logged it."""
    found: dict[int, int] = {}
    for m in re.finditer(r"shard (\d+) of 2: pid (\d+)", log.read_text()):
        found[int(m[1])] = int(m[2])
    return found


def _rounds(spool: Path) -> dict[str, int]:
    if not spool.exists():
        return {}
    made: dict[str, int] = spool_report(spool)["rounds"]
    return made


def test_two_shards_split_the_targets_survive_a_kill_and_stop_together(tmp_path: Path) -> None:
    config, log, port = _config(tmp_path), tmp_path / "agent.log", free_port()
    spools = {k: tmp_path / f"s.shard-{k}-of-2.db" for k in (1, 2)}
    cmd = cablewatch_cmd("agent", "--shards", "2", "--config", str(config), "--region",
                         "singapore", "--spool", str(tmp_path / "s.db"), "--host", "sg-1",
                         "--listen", f"127.0.0.1:{port}")  # fmt: skip
    with log.open("wb") as out:
        parent = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: all(_rounds(s) for s in spools.values()), 60, "both shards' rounds")
        made = {k: _rounds(s) for k, s in spools.items()}
        # disjoint and complete: 12 targets' ICMP series, TCP/HTTP/DNS of 127.0.0.1, and
        # every target's series in exactly one shard
        assert not set(made[1]) & set(made[2])
        icmp = {s.split("|")[3] for k in made for s in made[k] if s.startswith("icmp|")}
        assert icmp == {"127.0.0.1", "127.0.0.2", *(f"127.0.1.{i}" for i in range(1, 11))}
        for k in (1, 2):  # each its own exporter, on the given port + k - 1
            text = httpx.get(f"http://127.0.0.1:{port + k - 1}/metrics", timeout=5).text
            assert "cablewatch_probe_rounds_total{" in text, k

        first = _pids(log)
        assert set(first) == {1, 2}
        # a second process told shard 2 of 2 is refused, naming the owner
        again = subprocess.run(
            cablewatch_cmd("agent", "--shard", "2/2", "--config", str(config), "--region",
                           "singapore", "--spool", str(tmp_path / "s.db")),
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert again.returncode == 2
        assert f"is in use by pid {first[2]} " in again.stderr

        before = sum(_rounds(spools[1]).values())
        os.kill(first[1], signal.SIGKILL)
        wait_until(lambda: _pids(log).get(1) not in (None, first[1]), 30, "shard 1 restarted")
        wait_until(lambda: sum(_rounds(spools[1]).values()) > before + 10, 30,
                   "shard 1 probing again on its spool")  # fmt: skip
        assert _pids(log)[2] == first[2]  # the other shard untouched
        assert f"shard 1 of 2 (pid {first[1]}) exited with -9" in log.read_text()

        parent.send_signal(signal.SIGTERM)
        assert parent.wait(30) == 0, log.read_text()[-2000:]
        for pid in _pids(log).values():
            assert not Path(f"/proc/{pid}").exists(), pid  # no shard left behind
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
