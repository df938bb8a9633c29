"""The gateway API and webhooks, served by a real `cablewatch serve` process reading a real
influxd, fed with rounds as agents write them (Jakarta's ADC path loses everything from the
start, so Jakarta is sent elsewhere); a webhook receiver checks every signature."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from conftest import cablewatch_cmd
from pipeline_helpers import ping_line
from servers import Received, webhook_receiver
from waiting import wait_until

from cablewatch.collectors.influx import InfluxQL
from cablewatch.config import load
from cablewatch.evaluator.service import Evaluator
from cablewatch.evaluator.view import EvaluatorView
from cablewatch.gateway.api import OPERATOR, create_app
from cablewatch.gateway.source import EvaluatorSource
from cablewatch.gateway.webhooks import verify
from cablewatch.harness.stack import agent_config, free_port, influxd, init_db

pytestmark = pytest.mark.servers

TOKEN = "gw-token-0123456789"
SECRET = "hmac-secret-abcdef"


@dataclass
class Served:
    url: str
    received: Received
    delivery_log: Path
    config: Path
    proc: subprocess.Popen[bytes]
    log: Path
    tokens: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("gateway")
    received = Received(fail_first=1)  # the first delivery fails: it must be retried
    with webhook_receiver(received) as hook_port, influxd(tmp / "influx") as influx:
        init_db(influx.url)
        config = agent_config(tmp / "cw.toml", influx.url, icmp_only=True, poll_s=0.5)
        port = free_port()
        (tmp / "tokens").write_text(f"# gateway tokens\n{TOKEN}\nsecond-token\n")
        (tmp / "secret").write_text(SECRET + "\n")
        with config.open("a") as f:
            f.write(f'[api]\nlisten_port = {port}\ntokens_file = "{tmp / "tokens"}"\n'
                    f'[[webhooks]]\nurl = "http://127.0.0.1:{hook_port}/hook"\n'
                    f'secret_file = "{tmp / "secret"}"\n')  # fmt: skip
        topo = load(config)
        floors = {(r.id, c): p.floor_rtt_ms for r in topo.topology.regions
                  for c, p in r.paths.items()}  # fmt: skip
        stop = threading.Event()

        def feed() -> None:  # what 9 agents would write, every 0.2 s
            while not stop.is_set():
                t = time.time()
                lines = []
                for (region, cable), floor in floors.items():
                    if region == "jakarta" and cable == "ADC":
                        lines.append(ping_line(region, cable, t, 5, 0, None))
                    else:
                        lines.append(ping_line(region, cable, t, 5, 5, floor + 0.2, 0.1))
                httpx.post(f"{influx.url}/write", params={"db": "cw"},
                           content="\n".join(lines), timeout=5)  # fmt: skip
                stop.wait(0.2)

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        log = tmp / "serve.log"
        cmd = cablewatch_cmd("serve", "--config", str(config), "--listen",
                             f"127.0.0.1:{free_port()}", "--delivery-log",
                             str(tmp / "deliveries.jsonl"))  # fmt: skip
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:

            def ready() -> bool:
                try:
                    return bool(httpx.get(f"{url}/healthz", timeout=1).json()["status"] == "ok")
                except httpx.HTTPError:
                    assert proc.poll() is None, log.read_text()
                    return False

            wait_until(ready, 30, "the API")
            yield Served(url, received, tmp / "deliveries.jsonl", config, proc, log,
                         tmp / "tokens")  # fmt: skip
        finally:
            stop.set()
            proc.terminate()
            assert proc.wait(30) == 0, log.read_text()


def get(served: Served, path: str, token: str | None = TOKEN, **kw: Any) -> httpx.Response:
    headers = kw.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(served.url + path, headers=headers, timeout=10, **kw)


def test_auth_is_required_and_compared(served: Served) -> None:
    assert get(served, "/v1/recommendations", token=None).status_code == 401
    wrong = get(served, "/v1/recommendations", token=TOKEN + "x")
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    assert get(served, "/v1/recommendations", token="second-token").status_code == 200
    basic = {"Authorization": "Basic Z3c6eA=="}
    assert get(served, "/v1/cables", token=None, headers=basic).status_code == 401
    assert get(served, "/healthz", token=None).status_code == 200  # open, as /metrics


def test_unknown_region_and_bad_parameters(served: Served) -> None:
    assert get(served, "/v1/recommendations/atlantis").status_code == 404
    assert get(served, "/v1/paths/atlantis").status_code == 404
    assert get(served, "/v1/paths/tokyo", params={"window_rounds": "0"}).status_code == 422
    assert get(served, "/v1/paths/tokyo", params={"window_rounds": "x"}).status_code == 422
    assert get(served, "/v1/paths/Tokyo%20City").status_code == 422
    assert httpx.post(served.url + "/v1/recommendations",
                      headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 405  # fmt: skip


def test_recommendations_say_why_and_avoid_the_lossy_cable(served: Served) -> None:
    rec = wait_until(lambda: (r := get(served, "/v1/recommendations/jakarta").json())["cable"]
                     and r, 20, "a recommendation for jakarta")  # fmt: skip
    assert isinstance(rec, dict)
    assert rec["cable"] == "APCN-2"  # ADC loses everything; APCN-2 is the faster clean one
    scores = {s["cable"]: s for s in rec["scores"]}
    assert scores["ADC"]["clean"] is False
    assert scores["ADC"]["loss_pct"] == 100.0
    assert scores["APCN-2"]["score_ms"] < scores["SJC"]["score_ms"]
    assert rec["kind"] == "initial"
    tokyo = get(served, "/v1/recommendations/tokyo").json()
    assert tokyo["cable"] in ("SJC", "APCN-2")  # equal floors (34.8 ms); ADC is 38.4 ms


def test_etag_lets_the_gateway_poll_cheaply(served: Served) -> None:
    first = get(served, "/v1/recommendations")
    assert first.status_code == 200
    tag = first.headers["ETag"]
    assert tag == f'"v{first.json()["version"]}"'
    again = get(served, "/v1/recommendations", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    one = get(served, "/v1/recommendations/jakarta", headers={"If-None-Match": tag})
    assert one.status_code == 304


def test_cables_and_paths(served: Served) -> None:
    wait_until(lambda: {c["cable"]: c for c in get(served, "/v1/cables").json()["cables"]}
               ["ADC"]["bad_regions"] == ["jakarta"], 20, "jakarta bad on ADC")  # fmt: skip
    cables = {c["cable"]: c for c in get(served, "/v1/cables").json()["cables"]}
    assert cables["SJC"]["status"] == "ok"
    assert cables["ADC"]["status"] == "degraded"  # one path: a path event, not a cable fault
    five = {"window_rounds": "5"}
    wait_until(lambda: all(p["rounds"] == 5 for p in get(served, "/v1/paths/tokyo",
               params=five).json()["paths"]), 20, "5 rounds per path")  # fmt: skip
    paths = get(served, "/v1/paths/tokyo", params=five).json()
    assert paths["window_rounds"] == 5
    assert {p["cable"] for p in paths["paths"]} == {"ADC", "SJC", "APCN-2"}
    assert all(p["rounds"] == 5 for p in paths["paths"])
    assert "cablewatch_path_state" in get(served, "/metrics", token=None).text


def test_webhooks_are_signed_retried_and_logged(served: Served) -> None:
    wait_until(lambda: len(served.received.posts) >= 9, 30, "a webhook per region")
    for headers, body in served.received.posts:
        assert verify(SECRET, headers["X-Cablewatch-Timestamp"], body,
                      headers["X-Cablewatch-Signature"], now_s=time.time())  # fmt: skip
        assert not verify(SECRET + "x", headers["X-Cablewatch-Timestamp"], body,
                          headers["X-Cablewatch-Signature"], now_s=time.time())  # fmt: skip
    regions = {json.loads(b)["recommendation"]["region"] for _h, b in served.received.posts}
    assert len(regions) == 9
    log = [json.loads(ln) for ln in served.delivery_log.read_text().splitlines()]
    assert log[0]["delivered"] is False  # the receiver refused the first attempt ...
    assert log[0]["status"] == 503
    assert log[1]["attempt"] == 2  # ... and it was retried
    assert log[1]["delivered"] is True
    assert log[1]["version"] == log[0]["version"]


@pytest.fixture(scope="module")
def api_schema(served: Served) -> Any:
    """The same API, in process (schemathesis' requests-based client clashes with the
    urllib3-future that grafana-client's niquests installs), over an evaluator that read the
    served InfluxDB: real data, every route."""
    topo = load(served.config)

    async def evaluated() -> Evaluator:
        ev = Evaluator(topo, InfluxQL(topo.influx("tests")))
        await ev.warm_up()
        await ev.detect()
        await ev.ql.close()
        return ev

    app = create_app(EvaluatorSource(EvaluatorView(asyncio.run(evaluated()))), {TOKEN: OPERATOR})
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_schemathesis_finds_no_server_errors_or_schema_violations(api_schema: Any) -> None:
    """Every operation, 20 generated cases each, through schemathesis' default checks (no 5xx,
    responses and status codes as the schema says)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 10
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=20, deadline=None, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))  # fmt: skip
        def check(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})

        check()


def test_published_openapi_schema_is_what_is_served(served: Served) -> None:
    """deploy/gateway/openapi.json (`cablewatch serve --print-openapi`) is the live schema."""
    published = Path(__file__).resolve().parents[2] / "deploy" / "gateway" / "openapi.json"
    served_schema = httpx.get(served.url + "/openapi.json", timeout=10).json()
    assert json.loads(published.read_text()) == served_schema
    printed = subprocess.run(cablewatch_cmd("serve", "--print-openapi"), capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    assert json.loads(printed) == served_schema
    assert set(served_schema["paths"]) == {
        "/v1/recommendations", "/v1/recommendations/{region}", "/v1/cables",
        "/v1/paths/{region}", "/v1/customers/{customer}/report",
        "/v1/customers/{customer}/status", "/v1/customers/{customer}/status-link",
        "/v1/shifts/{region}/{cable}/accept", "/healthz", "/metrics",
    }  # fmt: skip
    security = served_schema["components"]["securitySchemes"]
    assert security == {"HTTPBearer": {"type": "http", "scheme": "bearer"}}


def _hup(served: Served, expect: str) -> str:
    """SIGHUP, then wait for the log line with ``expect`` that it causes; returns it."""

    def lines() -> list[str]:
        return [ln for ln in served.log.read_text().splitlines() if expect in ln]

    before = len(lines())
    served.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: len(lines()) > before, 30, expect)
    return lines()[before]


def test_sighup_reloads_slas_and_tokens_and_refuses_a_bad_file(served: Served) -> None:
    """Last in the module: it changes the configuration, and with it the tokens."""
    good = served.config.read_text()

    def events() -> list[Any]:
        return [c["events"] for c in get(served, "/v1/cables").json()["cables"]]

    wait_until(lambda: any(events()), 30, "an open event (jakarta loses all over ADC)")
    before = events()
    version = get(served, "/v1/recommendations").json()["version"]
    assert get(served, "/v1/customers/north-asia-fintech/status").status_code == 200
    # a file that does not load: refused, nothing changes
    served.config.write_text(good.replace("[[sla]]", "[[sla", 1))
    line = _hup(served, "reload of")
    assert "refused, running configuration kept: " in line
    assert "invalid TOML" in line
    # a webhook secret that cannot be read: refused too, before anything changed
    (served.tokens.parent / "secret").rename(served.tokens.parent / "secret.gone")
    served.tokens.write_text("fresh-token\n")
    served.config.write_text(good)
    line = _hup(served, "reload of")
    assert "refused, running configuration kept: webhook http://127.0.0.1:" in line
    assert get(served, "/v1/cables").status_code == 200  # the old token still works
    # a good file: one SLA policy fewer, new tokens; events and recommendations kept
    (served.tokens.parent / "secret.gone").rename(served.tokens.parent / "secret")
    cut = good.index('[[sla]]\ncustomer = "north-asia-fintech"')
    end = good.index("\n[", cut + 1) + 1  # the next table
    served.config.write_text(good[:cut] + good[end:])
    line = _hup(served, "reloaded")
    assert line.endswith("1 SLA policies, 1 webhooks, 1 API tokens; changed: slas"), line
    assert get(served, "/v1/cables").status_code == 401  # the old token is gone
    assert get(served, "/v1/cables", token="fresh-token").status_code == 200
    fresh = {"Authorization": "Bearer fresh-token"}
    status = httpx.get(f"{served.url}/v1/customers/north-asia-fintech/status", headers=fresh,
                       timeout=10)  # fmt: skip
    assert status.status_code == 404
    after = get(served, "/v1/cables", token="fresh-token").json()["cables"]
    assert [c["events"] for c in after] == before
    assert get(served, "/v1/recommendations", token="fresh-token").json()["version"] == version
    assert served.proc.poll() is None
