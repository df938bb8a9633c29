"""Two evaluators of one landing station on the bus (three clustered nats-server processes, a
real InfluxDB and Alertmanager; rounds published as agents publish them, a batch a region a
second): one holds the station's lease and writes, the other stands by. During a cut of ADC
the holder is paused (SIGSTOP) past the lease's TTL: the other takes over, continues the open
event (the same point, the same alert: never raised again), resolves it after the restore;
the paused one, resumed, writes nothing. Then the new holder is killed (SIGKILL): the first
takes the station back. Every event point, alert and recommendation carries its writer's token;
recommendation versions only grow."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import httpx
import nats
import nats.errors
import pytest
from waiting import wait_until

from cablewatch.bus.client import ensure_stream
from cablewatch.bus.settings import BusSettings
from cablewatch.gateway.forward import SERVED_BY
from cablewatch.harness.nats import NatsCluster, nats_cluster, stream_leader
from cablewatch.harness.receiver import Received, webhook_receiver
from cablewatch.harness.stack import (
    Server,
    active_alerts,
    add_api,
    alertmanager,
    evaluator,
    free_ports,
    influxd,
    init_db,
    scrape,
)
from cablewatch.harness.synthetic import region_id, round_line, write_config

pytestmark = pytest.mark.servers

REGIONS = 4
TTL_S = 3.0
"""The lease's TTL here: a takeover within it (plus a renewal interval) of the holder's last
renewal."""
ALERT = "CablewatchCableFault"


class Background:
    """A loop in a thread of its own while the context lasts (``_run`` until ``stop``)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(10)

    def _run(self) -> None:
        raise NotImplementedError


class Publisher(Background):
    """Every region's rounds, a batch a region a second, on the bus as agents publish them;
    ``cut`` loses every ADC packet."""

    def __init__(self, urls: list[str], stream: str = "CABLEWATCH_ROUNDS",
                 subject: str = "cablewatch.rounds") -> None:  # fmt: skip
        self.urls = urls
        self.bus = BusSettings(urls=tuple(urls), stream=stream, subject=subject)
        self.cut = False
        self.published = 0
        self.retries = 0
        self.error: BaseException | None = None
        super().__init__()

    def _run(self) -> None:
        try:
            asyncio.run(self._publish())
        except BaseException as exc:  # the test checks it
            self.error = exc

    async def _publish(self) -> None:
        async def quiet(_exc: Exception) -> None:
            """A node killed on purpose: the publishes' retries count it."""

        nc = await nats.connect(self.urls, error_cb=quiet)
        js = nc.jetstream()
        try:
            await ensure_stream(js, self.bus)
            t = float(int(time.time()) - 15)  # 15 s of history first: the baselines
            while not self.stop.is_set():
                for i in range(REGIONS):
                    lines = [round_line(i, k, t, received=0 if self.cut and k == 0 else 5)
                             for k in range(3)]  # fmt: skip
                    name = region_id(i)
                    msg_id = {"Nats-Msg-Id": f"{name}:{t:.0f}"}
                    while not self.stop.is_set():  # as an agent's sender: again, same id
                        try:
                            await js.publish(f"{self.bus.subject}.shantou.{name}",
                                             "\n".join(lines).encode(), timeout=2,
                                             headers=msg_id)  # fmt: skip
                            break
                        except (nats.errors.Error, TimeoutError):
                            self.retries += 1
                            await asyncio.sleep(0.2)
                    self.published += 1
                t += 1.0
                await asyncio.sleep(max(0.0, t + 1.0 - time.time()))
        finally:
            await nc.close()


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, NatsCluster, Server]]:
    tmp = tmp_path_factory.mktemp("lease-evaluators")
    with influxd(tmp / "influx") as influx, nats_cluster(tmp / "nats") as cluster, \
            alertmanager(tmp / "am") as am:  # fmt: skip
        yield influx, cluster, am


def _gauges(port: int) -> dict[str, float]:
    return scrape(f"http://127.0.0.1:{port}/metrics")


def _token(port: int) -> int:
    """The evaluator's lease token (0: standing by; -1: its metrics do not answer)."""
    try:
        return int(_gauges(port).get("cablewatch_evaluator_lease_token", 0))
    except httpx.HTTPError:
        return -1


def _last_poll(port: int) -> float:
    return _gauges(port).get("cablewatch_evaluator_last_poll_timestamp_seconds", 0.0)


def _rows(influx: Server, query: str, db: str = "lease") -> list[dict[str, Any]]:
    got = httpx.get(f"{influx.url}/query", params={"db": db, "q": query}, timeout=10).json()
    series = got["results"][0].get("series") or []
    return [dict(zip(s["columns"], v, strict=True)) for s in series for v in s["values"]]


def _events(influx: Server) -> list[dict[str, Any]]:
    return _rows(influx, "SELECT * FROM event WHERE scope = 'cable' AND subject = 'ADC'")


def _holder(ports: list[int]) -> int:
    """The token of the one instance that holds the lease (0: none or both)."""
    tokens = sorted(_token(p) for p in ports)
    return tokens[1] if tokens[0] <= 0 < tokens[1] else 0


def _elected(urls: list[str], stream: str, dead: str) -> bool:
    """``stream`` has a leader again, and not the dead node."""
    try:
        return asyncio.run(stream_leader(urls, stream)) != dead
    except (nats.errors.Error, TimeoutError, AssertionError):
        return False


def _adc_alerts(am: Server) -> list[dict[str, Any]]:
    return [a for a in active_alerts(am.url) if a["labels"]["alertname"] == ALERT]


def test_one_writer_per_fault_through_a_pause_and_a_kill(
    servers: tuple[Server, NatsCluster, Server], tmp_path: Path
) -> None:
    influx, cluster, am = servers
    init_db(influx.url, "lease")
    config = write_config(tmp_path / "cw.toml", influx.url, "lease", REGIONS, 5)
    urls = ", ".join(f'"{u}"' for u in cluster.urls)
    with config.open("a") as f:
        f.write(f"\n[bus]\nurls = [{urls}]\nlease_ttl_s = {TTL_S}\n"
                f'[alerting]\nalertmanager_url = "{am.url}"\nresend_s = 2\n'
                # back to ADC seconds after the restore: the new holder recommends too
                "[failover]\nwindow_rounds = 5\nmin_gain_ms = 1\nmin_gain_pct = 1\n"
                "dwell_s = 1\nholddown_s = 1\n")  # fmt: skip
    ports = free_ports(2)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    seen_alerts: list[int] = []

    def one_alert() -> list[dict[str, Any]]:
        alerts = _adc_alerts(am)
        seen_alerts.append(len(alerts))
        return alerts

    with contextlib.ExitStack() as stack:
        pub = stack.enter_context(Publisher(cluster.urls))
        wait_until(lambda: pub.published >= 15 * REGIONS or pub.error, 30, "the baselines")
        assert pub.error is None
        a = stack.enter_context(evaluator(config, logs[0], f"127.0.0.1:{ports[0]}", instance="a"))
        wait_until(lambda: _token(ports[0]) > 0, 60, "a to take the station")
        token_a = _token(ports[0])
        with evaluator(config, logs[1], f"127.0.0.1:{ports[1]}", instance="b") as b:
            wait_until(lambda: "standing by" in logs[1].read_text(), 60, "b to stand by")
            wait_until(lambda: _last_poll(ports[1]) > 0, 60, "b's first pass")
            assert _token(ports[1]) == 0
            wait_until(lambda: len(_rows(influx, "SELECT version FROM recommendation WHERE "
                                         f"lease_token = {token_a}")) == REGIONS, 60,
                       "a's first choices")  # fmt: skip
            # the cut: a raises it, once, with its token
            pub.cut = True
            wait_until(one_alert, 60, "the ADC cut's alert")
            wait_until(lambda: [e.get("lease_token") for e in _events(influx)] == [token_a], 30,
                       "a's event point")  # fmt: skip
            (alert,) = one_alert()
            assert alert["annotations"]["lease_token"] == str(token_a)
            # a paused past the TTL: b takes over, continues the event (rewritten, re-posted)
            a.send_signal(signal.SIGSTOP)
            paused = time.monotonic()
            try:
                wait_until(lambda: _token(ports[1]) > token_a, 4 * TTL_S, "b to take over")
                takeover_s = time.monotonic() - paused
                token_b = _token(ports[1])
                wait_until(lambda: [e.get("lease_token") for e in _events(influx)] == [token_b],
                           30, "b to write the open event again")  # fmt: skip
                wait_until(lambda: [x["annotations"]["lease_token"] for x in one_alert()]
                           == [str(token_b)], 30, "b to post the open event")  # fmt: skip
                (event,) = _events(influx)
                assert event["state"] == "open"
                # the restore, while a is still paused: b resolves the event
                pub.cut = False
                wait_until(lambda: [e["state"] for e in _events(influx)] == ["resolved"], 60,
                           "b to resolve the event")  # fmt: skip
                wait_until(lambda: not one_alert(), 60, "the alert resolved")
                wait_until(lambda: _rows(influx, "SELECT version FROM recommendation WHERE "
                                         f"lease_token = {token_b}"), 60,
                           "b's recommendations back to ADC")  # fmt: skip
            finally:
                a.send_signal(signal.SIGCONT)
            resumed = time.time()
            # a, resumed, catches up with what the bus pushed it meanwhile (the cut's end
            # among it) and writes none of it: its lease lapsed on its own clock
            wait_until(lambda: _last_poll(ports[0]) > resumed + 3, 30, "a's passes after the pause")
            assert _token(ports[0]) == 0
            (event,) = _events(influx)
            assert (event["state"], event["lease_token"]) == ("resolved", token_b), event
            assert not one_alert()
            recs = _rows(influx, "SELECT version, lease_token FROM recommendation")
            assert recs, "no recommendation was written"
            assert {r["lease_token"] for r in recs} <= {token_a, token_b}, recs
            last_a = max((r["time"] for r in recs if r["lease_token"] == token_a), default=None)
            assert last_a is not None, recs  # a recommended before its pause
            assert all(r["lease_token"] == token_b for r in recs if r["time"] > last_a)
            by_version = sorted(recs, key=lambda r: r["version"])
            assert [r["time"] for r in by_version] == sorted(r["time"] for r in recs), recs
            assert any(r["lease_token"] == token_b for r in recs), recs  # b recommended too
            assert min(r["version"] for r in recs if r["lease_token"] == token_b) > max(
                r["version"] for r in recs if r["lease_token"] == token_a
            )
            # b killed: a takes the station back
            b.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            wait_until(lambda: _token(ports[0]) > token_b, 4 * TTL_S, "a to take it back")
            back_s = time.monotonic() - killed
            assert a.poll() is None
        assert pub.error is None
    assert max(seen_alerts) == 1  # never two alerts for the one cut
    text = logs[0].read_text()
    assert "Traceback" not in text, text
    assert "lost (token" in text  # a said why it stopped writing
    print(
        f"takeover after SIGSTOP {takeover_s:.1f} s, after SIGKILL {back_s:.1f} s "
        f"(TTL {TTL_S:g} s); tokens {token_a}, {token_b}"
    )


TOKEN = "lease-test-token"


def _recommendations(url: str) -> httpx.Response:
    return httpx.get(f"{url}/v1/recommendations", timeout=10,
                     headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip


def test_serve_replicas_answer_as_the_holder_and_each_change_is_sent_once(
    servers: tuple[Server, NatsCluster, Server], tmp_path: Path
) -> None:
    """Two `serve` instances: the standby's API answers with the holder's answers (forwarded);
    webhooks come from the holder only, one delivery a recommendation change; the holder
    killed, the other answers itself, its versions above every one sent before."""
    influx, cluster, _am = servers
    init_db(influx.url, "serve")
    received = Received()
    secret = tmp_path / "hook-secret"
    secret.write_text("a-webhook-secret-of-some-length\n")
    with contextlib.ExitStack() as stack:
        hook_port = stack.enter_context(webhook_receiver(received))
        *ports, api_a, api_b = free_ports(4)
        api_ports = [api_a, api_b]
        configs, urls = [], []
        for k, name in enumerate("ab"):
            config = write_config(tmp_path / f"{name}.toml", influx.url, "serve", REGIONS, 5)
            with config.open("a") as f:
                f.write(cluster.bus_section(stream="SERVE", subject="serve.rounds",
                                            lease_bucket="serve_leases", lease_ttl_s=TTL_S)
                        + "[failover]\nwindow_rounds = 5\nmin_gain_ms = 1\nmin_gain_pct = 1\n"
                        "dwell_s = 1\nholddown_s = 1\n"
                        f'[[webhooks]]\nurl = "http://127.0.0.1:{hook_port}/hook"\n'
                        f'secret_file = "{secret}"\n')  # fmt: skip
            urls.append(add_api(config, "127.0.0.1", api_ports[k], tmp_path / "tokens", TOKEN))
            configs.append(config)
        pub = stack.enter_context(Publisher(cluster.urls, "SERVE", "serve.rounds"))
        wait_until(lambda: pub.published >= 15 * REGIONS or pub.error, 30, "the baselines")
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        a = stack.enter_context(evaluator(configs[0], logs[0], f"127.0.0.1:{ports[0]}",
                                          command="serve", instance="a"))  # fmt: skip
        wait_until(lambda: _token(ports[0]) > 0, 60, "a to take the station")
        stack.enter_context(evaluator(configs[1], logs[1], f"127.0.0.1:{ports[1]}",
                                      command="serve", instance="b"))  # fmt: skip
        wait_until(lambda: "standing by" in logs[1].read_text(), 60, "b to stand by")

        def versions() -> list[int]:
            return [json.loads(body)["version"] for _h, body in received.posts]

        wait_until(lambda: len(received.posts) >= REGIONS, 60, "a's first choices, sent")
        # b's API answers with a's answer
        wait_until(lambda: _recommendations(urls[1]).status_code == 200, 30, "b's API")
        from_a, from_b = _recommendations(urls[0]), _recommendations(urls[1])
        assert from_b.headers[SERVED_BY] == "a"
        assert SERVED_BY not in from_a.headers
        assert from_b.json()["version"] == from_a.json()["version"] == max(versions())
        assert from_b.json()["recommendations"] == from_a.json()["recommendations"]
        pub.cut = True  # every region off ADC, on a's word
        wait_until(lambda: len(received.posts) >= 2 * REGIONS, 60, "the moves off ADC, sent")
        before = max(versions())
        a.send_signal(signal.SIGKILL)
        wait_until(lambda: _token(ports[1]) > 0, 4 * TTL_S, "b to take over")
        pub.cut = False  # back to ADC, on b's word
        wait_until(lambda: len(received.posts) >= 3 * REGIONS, 60, "the moves back, sent")
        mine = _recommendations(urls[1])
        assert mine.status_code == 200
        assert SERVED_BY not in mine.headers  # b answers itself now
        assert mine.json()["version"] == max(versions()) > before
        assert all(r["cable"] == "ADC" for r in mine.json()["recommendations"])
        # one delivery a change: as many as the recommendation points, versions only growing
        recs = _rows(influx, "SELECT version, lease_token FROM recommendation", "serve")
        assert sorted(r["version"] for r in recs) == versions(), (recs, versions())
        assert versions() == sorted(set(versions()))
        assert len(received.posts) == 3 * REGIONS
        assert pub.error is None


class AlertWatch(Background):
    """The ADC alert's count in Alertmanager every 0.2 s, from a thread, with the time."""

    def __init__(self, am: Server) -> None:
        self.am = am
        self.seen: list[tuple[float, int]] = []
        super().__init__()

    def _run(self) -> None:
        while not self.stop.wait(0.2):
            with contextlib.suppress(httpx.HTTPError):
                self.seen.append((time.monotonic(), len(_adc_alerts(self.am))))


def test_a_nats_node_killed_during_a_cut_one_holder_one_alert(
    servers: tuple[Server, NatsCluster, Server], tmp_path: Path
) -> None:
    """The node leading the lease bucket's stream SIGKILLed during a cut: renewals fail until
    a new leader is elected (if that takes longer than 3/4 of the TTL, as on these loaded
    cores, the holder stops writing on its own clock and one of the two takes the station
    again). The cut's alert stays one alert, active throughout; the event stays one point,
    under the token of whoever holds, resolved once after the restore."""
    influx, cluster, am = servers
    init_db(influx.url, "node")
    config = write_config(tmp_path / "cw.toml", influx.url, "node", REGIONS, 5)
    with config.open("a") as f:
        f.write(cluster.bus_section(stream="NODE", subject="node.rounds",
                                    lease_bucket="node_leases", lease_ttl_s=TTL_S)
                + f'[alerting]\nalertmanager_url = "{am.url}"\nresend_s = 5\n')  # fmt: skip
    ports = free_ports(2)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with contextlib.ExitStack() as stack:
        pub = stack.enter_context(Publisher(cluster.urls, "NODE", "node.rounds"))
        wait_until(lambda: pub.published >= 15 * REGIONS or pub.error, 30, "the baselines")
        stack.enter_context(evaluator(config, logs[0], f"127.0.0.1:{ports[0]}", instance="a"))
        wait_until(lambda: _token(ports[0]) > 0, 60, "a to take the station")
        stack.enter_context(evaluator(config, logs[1], f"127.0.0.1:{ports[1]}", instance="b"))
        wait_until(lambda: "standing by" in logs[1].read_text(), 60, "b to stand by")
        wait_until(lambda: _last_poll(ports[1]) > 0, 60, "b's first pass")
        watch = stack.enter_context(AlertWatch(am))

        def events() -> list[dict[str, Any]]:
            return _rows(influx, "SELECT * FROM event WHERE scope = 'cable'", "node")

        pub.cut = True
        wait_until(lambda: [e["state"] for e in events()] == ["open"], 60, "the cut's event")
        wait_until(lambda: _adc_alerts(am), 30, "the cut's alert")
        leader = asyncio.run(stream_leader(cluster.urls, "KV_node_leases"))
        node = next(n for n in cluster.nodes if n.name == leader)
        node.kill()
        killed = time.monotonic()
        try:
            wait_until(lambda: _elected(cluster.urls, "KV_node_leases", leader), 60,
                       "a new leader of the lease bucket")  # fmt: skip

            def continued() -> bool:
                """One holder, the open event's point and its alert under its token."""
                token = _holder(ports)
                points = [e.get("lease_token") for e in events()]
                alerts = [a["annotations"]["lease_token"] for a in _adc_alerts(am)]
                return token > 0 and points == [token] and alerts == [str(token)]

            wait_until(continued, 60, "one holder, the open event and its alert under its token")
            held_again_s = time.monotonic() - killed
            pub.cut = False
            restored = time.monotonic()
            wait_until(lambda: [e["state"] for e in events()] == ["resolved"], 60, "resolved")
            wait_until(lambda: not _adc_alerts(am), 60, "the alert resolved")
        finally:
            node.start()
        assert pub.error is None
        holder = _holder(ports)
        assert holder > 0, "not one holder at the end"
    seen = [(t, n) for t, n in watch.seen]
    first = next(t for t, n in seen if n)
    assert max(n for _t, n in seen) == 1  # never two alerts for the one cut
    gaps = [t for t, n in seen if first <= t < restored and n == 0]
    assert not gaps, f"the alert was gone {len(gaps)} polls between its raise and the restore"
    (event,) = events()
    assert event["lease_token"] == holder
    texts = [log.read_text() for log in logs]
    for text in texts:
        assert "Traceback" not in text, text
    lapsed = sum(t.count("lost (token") for t in texts)
    print(
        f"one holder {held_again_s:.1f} s after the lease leader's kill (TTL {TTL_S:g} s; "
        f"leases lost meanwhile: {lapsed}); publisher retries {pub.retries}"
    )
