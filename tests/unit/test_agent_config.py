"""The lab's fast configuration (harness/stack.agent_config) loads, whatever it is asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from cablewatch.config import load
from cablewatch.harness.stack import agent_config


@pytest.mark.parametrize("protocols", [None, ("icmp", "stamp")])
@pytest.mark.parametrize("alertmanager", ["", "http://127.0.0.1:9", ["http://a:1", "http://b:2"]])
def test_every_combination_loads_with_what_was_asked(
    tmp_path: Path, protocols: tuple[str, ...] | None, alertmanager: str | list[str]
) -> None:
    """(An Alertmanager cluster's URL list once overwrote the targets' protocol lines.)"""
    path = agent_config(tmp_path / "cw.toml", "http://127.0.0.1:8086",
                        alertmanager_url=alertmanager, protocols=protocols)  # fmt: skip
    config = load(path)
    want = set(protocols or ("icmp", "tcp", "http", "dns", "ttft", "trace"))
    assert all(set(t.protocols) == want for t in config.topology.targets)
    urls = [alertmanager] if isinstance(alertmanager, str) and alertmanager else alertmanager
    assert list(config.alerting.alertmanager_urls) == (urls or [])
    if protocols is not None and "stamp" in protocols:  # the lab's one clock
        assert "stamp_clock_error_ms = 0" in path.read_text()
