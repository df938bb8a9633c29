"""A process that holds a lease and writes while it holds it, for tests/integration/
test_lease.py: claims ``KEY`` in bucket ``BUCKET`` (TTL ``TTL_S``) on the cluster at ``URLS``
(comma-separated), then every 20 ms appends ``TOKEN WALL_TIME`` to ``OUT`` if and only if
``Lease.held()`` (checked right before the write, as a writer of decisions does), then renews
if TTL / 4 passed since the last renewal. Exits when the lease is lost (``lost`` on stdout)
or on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import nats

from cablewatch.bus.lease import Lease, lease_bucket


async def main(urls: str, bucket: str, key: str, ttl_s: float, out: Path) -> None:
    nc = await nats.connect(urls.split(","))
    kv = await lease_bucket(nc.jetstream(), bucket, ttl_s, 3, urls)
    lease = Lease(kv, key, "holder", ttl_s)
    while not await lease.claim():  # noqa: ASYNC110 (polling the server, not us)
        await asyncio.sleep(0.05)
    print(f"claimed {lease.token}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    renewed = time.monotonic()
    with out.open("a") as f:
        while not stop.is_set():
            # the write first: a process paused anywhere may wake up right before one
            if lease.held():
                f.write(f"{lease.token} {time.time():.6f}\n")
                f.flush()
            if time.monotonic() - renewed >= ttl_s / 4:
                renewed = time.monotonic()
                if not await lease.renew():
                    print("lost", flush=True)
                    break
            await asyncio.sleep(0.02)
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), Path(sys.argv[5])))
