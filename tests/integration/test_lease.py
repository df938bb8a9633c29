"""Leases in a real JetStream key-value bucket (three clustered nats-server processes): one
holder at a time, a token that grows with each tenure, a graceful hand-over, a bucket made
otherwise named in one line; and a holder paused with SIGSTOP past the TTL writes nothing
once another took the lease."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from waiting import wait_until

from cablewatch.bus.lease import Lease, NotOurs, lease_bucket
from cablewatch.errors import BusError
from cablewatch.harness.nats import NatsCluster, nats_cluster

pytestmark = pytest.mark.servers

TTL_S = 2.0
HOLDER = Path(__file__).resolve().parents[1] / "lease_holder.py"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    with nats_cluster(tmp_path_factory.mktemp("nats")) as c:
        yield c


def _urls(c: NatsCluster) -> str:
    return ",".join(c.urls)


def test_one_holder_at_a_time_and_each_tenure_a_larger_token(cluster: NatsCluster) -> None:
    async def go() -> None:
        nc = await nats.connect(cluster.urls)
        kv = await lease_bucket(nc.jetstream(), "t1", TTL_S, 3, _urls(cluster))
        a, b = Lease(kv, "p0", "a", TTL_S), Lease(kv, "p0", "b", TTL_S)
        assert await a.claim()
        assert a.held()
        assert a.token is not None
        first = a.token
        assert not await b.claim()  # held
        assert await a.renew()
        assert a.token == first  # the token is the tenure's, not the renewal's
        deadline = time.monotonic() + 3 * TTL_S  # a stops renewing: b gets it after the TTL
        while not await b.claim():
            assert time.monotonic() < deadline, "the lease never expired"
            await asyncio.sleep(0.05)
        assert b.token is not None
        assert b.token > first
        assert not a.held()  # lapsed on a's own clock before b could take it
        assert not await a.renew()
        second = b.token
        await b.release()  # a graceful stop: the next claim need not wait
        assert await a.claim()
        assert a.token is not None
        assert a.token > second
        await nc.close()

    asyncio.run(go())


def test_a_bucket_made_otherwise_or_written_by_someone_else_is_refused(
    cluster: NatsCluster,
) -> None:
    async def go() -> None:
        nc = await nats.connect(cluster.urls)
        js = nc.jetstream()
        await js.create_key_value(bucket="t2", ttl=60, history=1, replicas=3)
        with pytest.raises(BusError, match=r"lease bucket t2 exists with ttl = 60\.0, "
                           r"cablewatch needs 2\.0"):  # fmt: skip
            await lease_bucket(js, "t2", TTL_S, 3, _urls(cluster))
        kv = await lease_bucket(js, "t3", TTL_S, 3, _urls(cluster))
        await kv.put("p0", b"not a lease")
        with pytest.raises(NotOurs):
            await Lease(kv, "p0", "a", TTL_S).claim()
        await nc.close()

    asyncio.run(go())


def test_a_holder_paused_past_the_ttl_writes_nothing_after_another_took_over(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    out = tmp_path / "writes.txt"
    args = [_urls(cluster), "t4", "p0", str(TTL_S), str(out)]
    holder = subprocess.Popen([sys.executable, str(HOLDER), *args], stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert holder.stdout is not None
        first = holder.stdout.readline()
        assert first.startswith("claimed "), first
        old = int(first.split()[1])
        wait_until(lambda: out.exists() and out.read_text().count("\n") >= 10, 10,
                   "the holder writing")  # fmt: skip
        holder.send_signal(signal.SIGSTOP)  # mid-write loop: it cannot renew, nor see time

        async def take() -> tuple[int, float]:
            nc = await nats.connect(cluster.urls)
            kv = await lease_bucket(nc.jetstream(), "t4", TTL_S, 3, _urls(cluster))
            mine = Lease(kv, "p0", "taker", TTL_S)
            while not await mine.claim():  # noqa: ASYNC110 (polling the server, not us)
                await asyncio.sleep(0.05)
            took = time.time()
            await nc.close()
            assert mine.token is not None
            return mine.token, took

        token, took = asyncio.run(take())
        assert token > old
        holder.send_signal(signal.SIGCONT)
        assert holder.wait(10) == 0
        said = holder.stdout.read()
        assert "lost" in said
        writes = [ln.split() for ln in out.read_text().splitlines()]
        assert {int(t) for t, _ in writes} == {old}
        last = max(float(at) for _, at in writes)
        assert last < took, f"the paused holder wrote {last - took:.3f} s after the takeover"
    finally:
        if holder.poll() is None:
            holder.send_signal(signal.SIGCONT)
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
