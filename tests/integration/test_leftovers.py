"""The check every integration module's teardown makes (tests/leftovers.py) finds what a test
leaves behind: one of each kind planted here is reported, and nothing once it is removed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import require_root
from leftovers import left_behind, snapshot
from waiting import wait_until

pytestmark = pytest.mark.netns


def test_a_planted_process_namespace_link_and_socket_are_each_reported(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    require_root()
    mark = str(tmp_path_factory.getbasetemp())
    name = f"cwleft-{uuid.uuid4().hex[:6]}"
    before = snapshot(mark)
    child = subprocess.Popen(["sleep", "300"])  # a descendant of pytest
    script, pidfile = tmp_path / "orphan.sh", tmp_path / "orphan.pid"
    script.write_text(f"echo $$ > {pidfile}\nsleep 300\n")
    # started in the background by a shell that exits: re-parented, found by its command line
    subprocess.run(["sh", "-c", f"setsid sh {script} >/dev/null 2>&1 &"], check=True)
    orphan = int(str(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 5,
                                "the orphan's pid")))  # fmt: skip
    listener = socket.socket()
    try:
        subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p"],
                       check=True)  # fmt: skip
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        found = left_behind(before, snapshot(mark))
        assert f"namespace {name}" in found
        assert {f"link {name}", f"link {name}p"} <= set(found)
        assert any(f.startswith(f"process {child.pid}: sleep 300") for f in found), found
        assert any(f.startswith(f"process {orphan}: ") and str(script) in f
                   for f in found), found  # fmt: skip
        assert any(f.startswith(f"listening tcp 127.0.0.1:{port} (pid ") for f in found), found
        assert any(
            f.endswith(": sleep 300") and not f.startswith(f"process {child.pid}:") for f in found
        ), found  # the orphan's child: its parent names the mark
        assert len(found) == 7, found
    finally:
        listener.close()
        child.kill()
        child.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(orphan), signal.SIGKILL)
        subprocess.run(["ip", "link", "delete", name], check=False)
        subprocess.run(["ip", "netns", "delete", name], check=False)
    wait_until(lambda: left_behind(before, snapshot(mark)) == [], 5, "the planted things gone")
