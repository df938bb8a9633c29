"""A gateway stand-in: runs in a region's namespace, applies the failover recommendations, and
measures what the region's customers feel.

- Polls ``GET /v1/recommendations/{region}`` with ``If-None-Match`` (a 304 costs nothing) on
  the first of its API URLs (``--api``, given once per ``cablewatch serve`` instance); when that
  one does not answer (or answers 5xx), it moves to the next at once and says so
  (``{"kind": "api_failover", ...}`` with the gap between the last good answer of the old URL
  and the first of the new). When the recommended cable changes, it moves the region's route
  to the service address (the lab's VIP) onto that cable: ``ip route replace VIP/32 via
  <landing-point router> dev <cable> src <the region's address on that cable>`` (the source
  makes the replies come back over the same cable).
- Every ``--probe-s``, the time to first token of the station's streaming API at the VIP
  (probes/ttft.py), tagged with the cable in use.

Writes one JSON object per line to ``--out``: ``{"kind": "switch", ...}`` and
``{"kind": "ttft", ...}``, each with ``t`` (Unix seconds). Run:
``ip netns exec NS python -m cablewatch.lab.standin --region R --api URL [--api URL2 ...]
--token-file F --state lab.json --out FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from cablewatch.aio import wait_event
from cablewatch.probes.ttft import ttft_probe

__all__ = ["main"]


class StandIn:
    def __init__(self, args: argparse.Namespace) -> None:
        state = json.loads(Path(args.state).read_text())
        self.region: str = args.region
        self.vip: str = state["service_vip"]
        self.port: int = state["services"]["token_port"]
        self.paths = {p["cable"]: p for p in state["paths"] if p["region"] == self.region}
        self.cable: str = next(iter(self.paths))  # the lab's initial route: the first cable
        self.adopted = False
        self.apis: list[str] = [a.rstrip("/") for a in args.api]
        self.at = 0
        """Which of ``apis`` is in use."""
        self.last_ok = 0.0
        """When an API last answered."""
        self.failed_over: str | None = None
        """The API given up on, until another answers."""
        self.token = Path(args.token_file).read_text().split()[0]
        self.out = Path(args.out)
        self.poll_s: float = args.poll_s
        self.probe_s: float = args.probe_s

    def write(self, record: dict[str, Any]) -> None:
        with self.out.open("a") as f:
            f.write(json.dumps({"t": time.time(), **record}) + "\n")

    def switch(self, rec: dict[str, Any]) -> None:
        p = self.paths[rec["cable"]]
        subprocess.run(["ip", "route", "replace", f"{self.vip}/32", "via", p["next_hop"], "dev",
                        p["dev"], "src", p["source"]], check=True)  # fmt: skip
        self.write({"kind": "switch", "from": self.cable, "to": rec["cable"],
                    "rec_kind": rec["kind"], "version": rec["version"],
                    "reason": rec["reason"], "since": rec["since"],
                    "api": self.apis[self.at]})  # fmt: skip
        self.cable = rec["cable"]

    async def follow(self, stop: asyncio.Event) -> None:
        etag = ""
        misses = 0  # failed asks in a row
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(timeout=2.0) as client:
            while not stop.is_set():
                api = self.apis[self.at]
                try:
                    r = await client.get(f"{api}/v1/recommendations/{self.region}",
                                         headers=headers | ({"If-None-Match": etag} if etag
                                                            else {}))  # fmt: skip
                    if r.status_code >= 500:
                        raise httpx.HTTPStatusError(f"HTTP {r.status_code}", request=r.request,
                                                    response=r)  # fmt: skip
                    if r.status_code in (200, 304):
                        misses = 0
                        self.answered()
                    if r.status_code == 200:
                        etag = r.headers.get("ETag", "")
                        rec = r.json()
                        if rec["cable"] and (rec["cable"] != self.cable or not self.adopted):
                            self.switch(rec)  # the first one is applied even if unchanged
                            self.adopted = True
                    elif r.status_code != 304:
                        self.write({"kind": "api_error", "status": r.status_code, "api": api})
                except httpx.HTTPError as exc:
                    self.write({"kind": "api_error", "error": str(exc) or type(exc).__name__,
                                "api": api})  # fmt: skip
                    misses += 1
                    if len(self.apis) > 1:
                        self.at = (self.at + 1) % len(self.apis)
                        self.failed_over = self.failed_over or api
                        etag = ""  # another instance: its versions are its own
                        if misses < len(self.apis):
                            continue  # ask the next one at once
                await wait_event(stop, self.poll_s)

    def answered(self) -> None:
        now = time.time()
        if self.failed_over is not None:
            self.write({"kind": "api_failover", "from": self.failed_over, "to": self.apis[self.at],
                        "gap_s": now - self.last_ok})  # fmt: skip
            self.failed_over = None
        self.last_ok = now

    async def measure(self, stop: asyncio.Event) -> None:
        """A request every probe_s, as a gateway's clients keep sending them: one that hangs on
        a cut cable does not hold back the next (at most 8 in flight)."""
        inflight: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            started = time.monotonic()
            if len(inflight) < 8:
                task = asyncio.create_task(self._one(self.cable))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            await wait_event(stop, max(0.0, self.probe_s - (time.monotonic() - started)))
        await asyncio.gather(*inflight)

    async def _one(self, cable: str) -> None:
        r = await ttft_probe(self.vip, self.port, timeout_s=1.0)
        self.write({"kind": "ttft", "cable": cable, "ok": r.ok, "connect_ms": r.connect_ms,
                    "ttft_ms": r.ttft_ms, "error": r.error})  # fmt: skip


async def run(args: argparse.Namespace) -> None:
    standin = StandIn(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    standin.write({"kind": "start", "cable": standin.cable})
    await asyncio.gather(standin.follow(stop), standin.measure(stop))


def main() -> None:
    parser = argparse.ArgumentParser(description="A gateway stand-in for one lab region.")
    parser.add_argument("--region", required=True)
    parser.add_argument("--api", required=True, action="append",
                        help="The gateway API's base URL; once per serve instance, in the "
                        "order to try them.")  # fmt: skip
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--state", required=True, help="The lab's lab.json.")
    parser.add_argument("--out", required=True)
    parser.add_argument("--poll-s", type=float, default=0.5)
    parser.add_argument("--probe-s", type=float, default=0.5)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
