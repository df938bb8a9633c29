"""Shards of a region's targets: stable as targets come and go, disjoint, complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from cablewatch.agent.shards import child_argv, shard_jobs, shard_of, shard_spool
from cablewatch.probes.spec import ProbeJob

pytestmark = pytest.mark.unit


def jobs(n: int, protocols: tuple[str, ...] = ("icmp", "tcp")) -> list[ProbeJob]:
    return [ProbeJob(p, f"10.0.{i // 250}.{i % 250 + 1}",
                     {"region": "singapore", "cable": ("ADC", "SJC")[i % 2]}, 1.0)
            for i in range(n) for p in protocols]  # fmt: skip


def test_shards_split_every_job_once_and_keep_a_target_together() -> None:
    every = jobs(1000)
    parts = [shard_jobs(every, (k, 4)) for k in range(1, 5)]
    assert sorted(j.series for part in parts for j in part) == sorted(j.series for j in every)
    for part in parts:
        assert 400 <= len(part) <= 600  # about a quarter each (1,000 targets x 2 protocols)
        targets = {(j.labels["cable"], j.address) for j in part}
        assert len(part) == 2 * len(targets)  # both protocols of a target in one shard
    assert shard_jobs(every, None) == every


def test_a_target_keeps_its_shard_when_others_come_and_go() -> None:
    before = {j.series: shard_of(j, 3) for j in jobs(300)}
    after = {j.series: shard_of(j, 3) for j in jobs(900)}  # 600 more targets
    assert all(after[s] == k for s, k in before.items())
    fewer = {j.series: shard_of(j, 3) for j in jobs(100)}
    assert all(before[s] == k for s, k in fewer.items())


def test_each_shard_has_its_own_spool_and_port() -> None:
    assert shard_spool(Path("/var/lib/cablewatch/jakarta.db"), (2, 4)) == Path(
        "/var/lib/cablewatch/jakarta.shard-2-of-4.db"
    )
    assert shard_spool(Path("/x/jakarta.db"), None) == Path("/x/jakarta.db")
    argv = child_argv(["--region", "jakarta"], (3, 4), ("0.0.0.0", 9516))
    assert argv[-6:] == ["--region", "jakarta", "--shard", "3/4", "--listen", "0.0.0.0:9518"]
