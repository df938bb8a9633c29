"""The systemd units in deploy/systemd/ pass `systemd-analyze verify` (with ExecStart pointing
at this checkout's cablewatch, as an install would), grant the agent CAP_NET_RAW and nothing
else and serve no capability at all; and their exposure (`systemd-analyze security`) stays low.
A unit with a wrong option or a missing program fails the same check."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cablewatch.harness.stack import need

pytestmark = pytest.mark.servers

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
INSTALLED = "/opt/cablewatch/bin/cablewatch"


def _installed(tmp: Path, text: str, name: str) -> Path:
    unit = tmp / name
    unit.write_text(text.replace(INSTALLED, str(Path(sys.executable).parent / "cablewatch")))
    return unit


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need("systemd-analyze"), "verify", str(unit)], capture_output=True,
                          text=True, check=False, cwd=unit.parent)  # fmt: skip


def _exposure(unit: Path) -> float:
    """`systemd-analyze security`'s overall exposure of ``unit``, asserted low (<= 2.0)."""
    done = subprocess.run([need("systemd-analyze"), "security", "--offline=true", str(unit)],
                          capture_output=True, text=True, check=False, cwd=unit.parent)  # fmt: skip
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
    assert score is not None, done.stdout + done.stderr
    assert float(score[1]) <= 2.0, done.stdout[-3000:]
    return float(score[1])


def _options(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.mark.parametrize("name", ["cablewatch-agent@singapore.service",
                                  "cablewatch-serve.service",
                                  "cablewatch-ingest@1.service"])  # fmt: skip
def test_units_verify_and_stay_confined(tmp_path: Path, name: str) -> None:
    source = UNITS / re.sub(r"@[^.]+", "@", name)
    text = source.read_text()
    unit = _installed(tmp_path, text, source.name)
    if "@" in name:  # verify the instance, as systemctl would start it
        unit = unit.rename(tmp_path / name)
    done = _verify(unit)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    opts = _options(text)
    assert opts["User"] == ["cablewatch"]
    assert opts["NoNewPrivileges"] == ["yes"]
    assert opts["ProtectSystem"] == ["strict"]
    assert opts["Restart"] == ["on-failure"]
    assert opts["LoadCredential"]
    if "ingest" not in name:  # ingest keeps no state and has nothing to reload
        assert opts["StateDirectory"]
        assert opts["ExecReload"] == ["/bin/kill -HUP $MAINPID"]  # they reload on SIGHUP
    wanted = "CAP_NET_RAW" if "agent" in name else ""
    assert opts["AmbientCapabilities"] == [wanted]
    assert opts["CapabilityBoundingSet"] == [wanted]
    print(f"{name}: exposure {_exposure(unit):g}")


def test_the_check_fails_on_a_broken_unit(tmp_path: Path) -> None:
    text = (UNITS / "cablewatch-serve.service").read_text()
    typo = _installed(tmp_path, text.replace("ProtectSystem=strict", "ProtectSystem=sometimes"),
                      "cablewatch-serve.service")  # fmt: skip
    assert "Failed to parse" in _verify(typo).stderr
    missing = tmp_path / "missing"
    missing.mkdir()
    gone = missing / "cablewatch-serve.service"
    gone.write_text(text.replace(INSTALLED, "/nonexistent/cablewatch"))
    assert _verify(gone).returncode != 0


def test_the_reflector_unit_verifies_binds_port_862_and_nothing_more(tmp_path: Path) -> None:
    """`cablewatch reflect` needs no state, no secret, only the capability to bind UDP 862;
    whom it answers comes from an environment file (it answers nobody without one)."""
    text = (UNITS / "cablewatch-reflect.service").read_text()
    env = tmp_path / "reflect.env"
    env.write_text("REFLECT_ALLOW=--allow 198.51.100.0/24\n")
    unit = _installed(tmp_path, text.replace("/etc/cablewatch/reflect.env", str(env)),
                      "cablewatch-reflect.service")  # fmt: skip
    done = _verify(unit)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    opts = _options(text)
    assert opts["User"] == ["cablewatch"]
    assert opts["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert opts["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert "$REFLECT_ALLOW" in opts["ExecStart"][0]
    _exposure(unit)
