"""The gateway API under load, and the closed loop's cut-to-recovery time in a lab of its own.

1. Throughput: `cablewatch serve`'s API app (FastAPI on uvicorn, one process), built over a
   real evaluator that read 27 paths of rounds from a real influxd, gets 200 concurrent
   connections from wrk for --seconds on GET /v1/recommendations (every region, with scores:
   about 11 kB), then on a route of the same app, behind the same bearer-token check, that
   returns the same bytes pre-rendered: the reference. Ratio = API / static requests per second.
2. Recovery: the closed loop (harness/loop.py) at a 1 s probe interval, with the default dwell
   (60 s) and large-gain dwell (5 s): first Singapore's RTT on its cable doubles (a latency
   step, not a fault) and the time until its gateway stand-in moves is measured
   (latency_switch_s); then ADC is cut, and for every region that was on it, the time until the
   recommendation, the route switch, and the first request through the new cable within the
   region's SLA RTT. The figure is the slowest region.

Needs root (the lab) and wrk. The last line holds the headline figures:

    api_rps=N static_rps=N ratio=R p99_ms=X recover_s=X latency_switch_s=X
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import Response
from fastapi.routing import APIRoute

from cablewatch.collectors.influx import InfluxQL, InfluxV1Writer
from cablewatch.collectors.lineprotocol import line
from cablewatch.config import load, load_default
from cablewatch.evaluator.service import Evaluator
from cablewatch.evaluator.view import EvaluatorView
from cablewatch.gateway.api import OPERATOR, create_app
from cablewatch.gateway.source import EvaluatorSource
from cablewatch.harness.loop import closed_loop, recoveries
from cablewatch.harness.stack import agent_config, free_port, influxd, init_db, need
from cablewatch.lab import manager

TOKEN = "bench-token"


def evaluator_with_data(tmp: Path, influx_url: str) -> Evaluator:
    init_db(influx_url)
    topo = load(agent_config(tmp / "cw.toml", influx_url, icmp_only=True))
    floors = {(r.id, c): p.floor_rtt_ms for r in topo.topology.regions
              for c, p in r.paths.items()}  # fmt: skip
    now = time.time()
    lines = [
        line("ping", {"region": r, "cable": c, "protocol": "icmp"},
             {"packets_transmitted": 5, "packets_received": 5,
              "median_response_ms": floor + 0.1 * (k % 7), "jitter_ms": 0.2},
             int((now - 60 + k) * 1e9))
        for k in range(60) for (r, c), floor in floors.items()
    ]  # fmt: skip

    async def go() -> Evaluator:
        sink = topo.sinks.influxdb
        assert sink is not None
        writer = InfluxV1Writer(sink, secret=None)
        await writer.write(lines)
        await writer.close()
        ev = Evaluator(topo, InfluxQL(sink))
        await ev.warm_up()
        await ev.detect()
        await ev.ql.close()
        return ev

    return asyncio.run(go())


def serve(ev: Evaluator, port: int) -> None:
    """The API app, plus /bench/static behind the same token check (the /v1 routes' own
    dependency), returning the pre-rendered bytes of GET /v1/recommendations."""
    source = EvaluatorSource(EvaluatorView(ev))
    app = create_app(source, {TOKEN: OPERATOR})
    cables = next(r for r in app.routes if isinstance(r, APIRoute) and r.path == "/v1/cables")
    every = [source.recommendation(r) for r in source.regions()]
    rendered = {"version": source.version, "generated_at": source.now_iso(),
                "recommendations": every}  # fmt: skip
    body = json.dumps(rendered).encode()

    @app.get("/bench/static", include_in_schema=False, dependencies=cables.dependencies)
    def static_body() -> Response:
        return Response(body, media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def wrk(url: str, seconds: float) -> tuple[float, float]:
    """(requests/s, p99 latency in ms) at 200 connections."""
    out = subprocess.run([need("wrk"), "-t2", "-c200", f"-d{seconds:g}s", "--latency", "-H",
                          f"Authorization: Bearer {TOKEN}", url], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} failed responses under load")
    return rps, float(value) * scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cablewatch-api-"))
    with influxd(tmp / "influx") as influx:
        ev = evaluator_with_data(tmp, influx.url)
    port = free_port()
    server = multiprocessing.get_context("fork").Process(target=serve, args=(ev, port))
    server.start()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the API did not start")
            time.sleep(0.1)
        size = len(httpx.get(f"{base}/v1/recommendations",
                             headers={"Authorization": f"Bearer {TOKEN}"}).content)  # fmt: skip
        api_rps, p99 = wrk(f"{base}/v1/recommendations", args.seconds)
        static_rps, static_p99 = wrk(f"{base}/bench/static", args.seconds)
    finally:
        server.terminate()
        server.join(10)
    print(f"GET /v1/recommendations ({size} bytes), 200 connections: {api_rps:,.0f} req/s, "
          f"p99 {p99:.1f} ms; the same bytes pre-rendered: {static_rps:,.0f} req/s, "
          f"p99 {static_p99:.1f} ms")  # fmt: skip
    opts = manager.LabOptions(state_dir=tmp / "lab", prefix="cwa", mgmt_subnet="198.18.248.0/24")
    manager.up(load_default(), opts)
    try:
        run = closed_loop(opts, tmp / "loop", interval_s=1.0, hold_s=10, after_restore_s=5,
                          dwell_s=60.0, step_region="singapore",
                          say=lambda text: print("  " + text, flush=True))  # fmt: skip
    finally:
        manager.down(opts)
    times = recoveries(run)
    for region, t in times.items():
        print(f"  {region:18} recommended {t['recommended_s']:.2f} s, switched "
              f"{t['switched_s']:.2f} s, back under SLA {t['recovered_s']:.2f} s after the cut; "
              f"TTFT median {t['ttft_before_ms']:.1f} -> {t['ttft_after_ms']:.1f} ms")  # fmt: skip
    recovered = [t["recovered_s"] for t in times.values()]
    recover = max(recovered)
    print(f"cut -> every affected region back under SLA: {recover:.2f} s (slowest of "
          f"{len(times)}; median {statistics.median(recovered):.2f} s)")  # fmt: skip
    assert run.step is not None
    step_s = run.step["switched_s"]
    print(f"latency step (singapore's RTT doubled on {run.step['from']}) -> moved to "
          f"{run.step['to']}: {step_s:.1f} s")  # fmt: skip
    print(f"api_rps={api_rps:.0f} static_rps={static_rps:.0f} ratio={api_rps / static_rps:.2f} "
          f"p99_ms={p99:.1f} recover_s={recover:.2f} latency_switch_s={step_s:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
