"""Every integration module leaves the host as it found it: no process, network namespace,
link or listening socket of its own after its fixtures are torn down (tests/leftovers.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from leftovers import SESSION_LABS, SESSION_PORTS, left_behind, snapshot


def _session_lab_pids() -> set[int]:
    pids = set()
    for lab in SESSION_LABS:
        state = lab.state_dir / "lab.json"
        if state.exists():
            pids |= {p["pid"] for p in json.loads(state.read_text())["processes"].values()}
    return pids


@pytest.fixture(scope="module", autouse=True)
def leaves_nothing_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compares the host before the module's first fixture and after its last teardown (module
    fixtures run after session ones, and tear down before them)."""
    if os.geteuid() != 0:  # other users' processes and sockets cannot be read
        yield
        return
    mark = str(tmp_path_factory.getbasetemp())
    before = snapshot(mark)
    yield
    after = snapshot(mark)
    prefix = SESSION_LABS[0].prefix if SESSION_LABS else None
    found = left_behind(before, after, spare=_session_lab_pids(), spare_prefix=prefix)
    found = [f for f in found if not any(f":{port} (pid {os.getpid()}:" in f
                                         for port in SESSION_PORTS)]  # fmt: skip
    assert not found, "left behind:\n" + "\n".join(found)
