from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from leftovers import SESSION_LABS, SESSION_PORTS
from servers import dns_server, http_server, tcp_listener

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is ``unit`` or ``integration`` by its folder (``-m unit`` picks the quick ones)."""
    for item in items:
        folder = item.path.parent.name
        if folder in ("unit", "integration"):
            item.add_marker(getattr(pytest.mark, folder))


def require_root() -> None:
    """Namespace tests need root; in CI (which is root) they must never be skipped."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI must run as root: namespace tests cannot be skipped there")
        pytest.skip("needs root for network namespaces")


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh network namespace with lo up; removed afterwards."""
    require_root()
    name = f"cwtest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def cablewatch_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cablewatch", *args]


@pytest.fixture(scope="session")
def http_port() -> Iterator[int]:
    with http_server() as port:
        SESSION_PORTS.add(port)
        yield port


@pytest.fixture(scope="session")
def tcp_port() -> Iterator[int]:
    with tcp_listener() as port:
        SESSION_PORTS.add(port)
        yield port


@pytest.fixture(scope="session")
def dns_port() -> Iterator[int]:
    with dns_server() as port:
        SESSION_PORTS.add(port)
        yield port


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One lab for the session (the default topology), torn down and checked at the end."""
    require_root()
    from lab_helpers import Lab, leftovers

    the_lab = Lab(tmp_path_factory.mktemp("lab") / "state", "cwt", "198.18.254.0/24")
    SESSION_LABS.append(the_lab)
    assert "lab up: 29 namespaces" in the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.run("down")
        assert leftovers(the_lab) == []
