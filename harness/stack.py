"""The central stack for tests, benchmarks and the demo: InfluxDB 1.x, Prometheus and
VictoriaMetrics from Debian's packages, started on addresses of this host (loopback, or the
lab's management bridge), on non-default ports, with their data in a directory of the caller's.
Each waits until the server answers, and stops it (SIGTERM, then SIGKILL) on exit."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cablewatch.errors import CablewatchError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports (held open together while they are picked: one at a time,
    the kernel may give the same port twice)."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in socks]


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise CablewatchError(f"{binary} is not installed: scripts/setup.sh installs it")
    return path


def scrape(url: str, timeout_s: float = 5.0) -> dict[str, float]:
    """A Prometheus endpoint's unlabelled samples (counters, gauges), by name; raises
    httpx.HTTPError when it does not answer."""
    out = {}
    for ln in httpx.get(url, timeout=timeout_s).text.splitlines():
        name, _, value = ln.partition(" ")
        if ln and not ln.startswith("#") and "{" not in name:
            out[name] = float(value)
    return out


def wait_http(url: str, ok: tuple[int, ...], proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``url`` answers one of ``ok`` (30 s at most, and only while ``proc`` lives)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CablewatchError(f"{url}: server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code in ok:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise CablewatchError(f"{url}: not ready in 30 s: {log.read_text()[-2000:]}")


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes] | None
    log: Path
    args: list[str]
    ready: str
    ready_codes: tuple[int, ...]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def start(self) -> None:
        """(Re)start with the same data and port."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        wait_http(self.url + self.ready, self.ready_codes, self.proc, self.log)


def _launch(args: list[str], url: str, log: Path, ready: str, codes: tuple[int, ...]) -> Server:
    server = Server(url, None, log, args, ready, codes)
    server.start()
    return server


def init_db(url: str, database: str = "cw") -> list[str]:
    """`cablewatch db init` on the InfluxDB at ``url``: the database and its retention
    policies (the evaluator writes its rollups to ``rollup``)."""
    import asyncio

    from cablewatch.collectors.dbinit import init_database
    from cablewatch.collectors.influx import InfluxQL
    from cablewatch.collectors.settings import InfluxSink

    async def go() -> list[str]:
        ql = InfluxQL(InfluxSink(url=url, database=database))
        try:
            return await init_database(ql)
        finally:
            await ql.close()

    return asyncio.run(go())


@contextlib.contextmanager
def influxd(
    tmp: Path, host: str = "127.0.0.1", *, auth: bool = False, port: int | None = None
) -> Iterator[Server]:
    """InfluxDB 1.x; with ``auth``, an admin user ``admin`` / ``s3cret`` exists."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = port or free_port("127.0.0.1")
    rpc = free_port("127.0.0.1")
    conf = tmp / "influxdb.conf"
    conf.write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n'
        f'[meta]\n  dir = "{tmp}/meta"\n'
        f'[data]\n  dir = "{tmp}/data"\n  wal-dir = "{tmp}/wal"\n  query-log-enabled = false\n'
        f'[http]\n  bind-address = "{host}:{port}"\n  log-enabled = false\n'
        f"  auth-enabled = {'true' if auth else 'false'}\n"
        '[ifql]\n  enabled = false\n[continuous_queries]\n  run-interval = "1s"\n'
    )
    server = _launch([need("influxd"), "-config", str(conf)], f"http://{host}:{port}",
                     tmp / "influxd.log", "/ping", (204,))  # fmt: skip
    try:
        if auth:
            httpx.post(f"{server.url}/query",
                       data={"q": "CREATE USER admin WITH PASSWORD 's3cret' WITH ALL PRIVILEGES"},
                       timeout=10).raise_for_status()  # fmt: skip
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def prometheus(
    tmp: Path, targets: list[str], labels: Mapping[str, Mapping[str, str]] | None = None
) -> Iterator[Server]:
    """Prometheus scraping ``targets`` every second (job ``cablewatch``); ``labels``: a
    target's own labels (an agent's region and host, as deploy/prometheus/prometheus.yml)."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = tmp / "prometheus.yml"
    lines = [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: cablewatch",
        "    static_configs:",
    ]
    for t in targets:
        lines.append(f'      - targets: ["{t}"]')
        own = (labels or {}).get(t)
        if own:
            lines.append("        labels:")
            lines += [f'          {k}: "{v}"' for k, v in own.items()]
    conf.write_text("\n".join(lines) + "\n")
    args = [need("prometheus"), f"--config.file={conf}", f"--storage.tsdb.path={tmp}/prom",
            f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    server = _launch(args, f"http://127.0.0.1:{port}", tmp / "prometheus.log", "/-/ready", (200,))
    try:
        yield server
    finally:
        server.stop()


def agent_targets(state: Mapping[str, Any], port: int = 9516) -> dict[str, dict[str, str]]:
    """Each lab agent's scrape address and its labels (agent_region, agent_host), as the
    example deploy/prometheus/prometheus.yml labels them: dashboards name agents by them. Not
    ``region``: an agent's series carry that label already, and Prometheus would rename
    theirs to ``exported_region``."""
    return {f"{addr}:{port}": {"agent_region": region, "agent_host": f"{region}-probe"}
            for region, addr in state["mgmt_region_addr"].items()}  # fmt: skip


@contextlib.contextmanager
def victoria_metrics(tmp: Path) -> Iterator[Server]:
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [need("victoria-metrics"), f"-storageDataPath={tmp}/vm",
            f"-httpListenAddr=127.0.0.1:{port}", "-search.latencyOffset=0s"]  # fmt: skip
    server = _launch(args, f"http://127.0.0.1:{port}", tmp / "vm.log", "/health", (200,))
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def alertmanager(tmp: Path, config: Path | None = None) -> Iterator[Server]:
    """Alertmanager (Debian's prometheus-alertmanager), no clustering; ``config`` defaults to
    a single receiver that delivers nowhere (alerts are read back over the v2 API)."""
    tmp.mkdir(parents=True, exist_ok=True)
    if config is None:
        config = tmp / "alertmanager.yml"
        config.write_text(
            "route:\n  receiver: none\n  group_wait: 1s\nreceivers:\n  - name: none\n"
        )
    server = _alertmanager(tmp, config, ["--cluster.listen-address="])
    try:
        yield server
    finally:
        server.stop()


def _alertmanager(tmp: Path, config: Path, cluster: list[str]) -> Server:
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [need("prometheus-alertmanager"), f"--config.file={config}",
            f"--storage.path={tmp}/am", f"--web.listen-address=127.0.0.1:{port}",
            *cluster]  # fmt: skip
    return _launch(args, f"http://127.0.0.1:{port}", tmp / "alertmanager.log", "/-/ready",
                   (200,))  # fmt: skip


@contextlib.contextmanager
def alertmanager_cluster(
    tmp: Path, configs: list[Path], *, peer_timeout_s: float = 2.0
) -> Iterator[list[Server]]:
    """One Alertmanager replica per configuration, clustered by gossip on loopback (each
    names every other as a peer); yields when every replica sees them all. A replica waits
    ``peer_timeout_s`` per position in the cluster before it notifies, so that the first one's
    notification log reaches it and it does not notify again."""
    gossip = [free_port() for _ in configs]
    servers: list[Server] = []
    try:
        for i, config in enumerate(configs):
            flags = [f"--cluster.listen-address=127.0.0.1:{gossip[i]}",
                     f"--cluster.advertise-address=127.0.0.1:{gossip[i]}",
                     f"--cluster.peer-timeout={peer_timeout_s}s",
                     "--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=2s",
                     *(f"--cluster.peer=127.0.0.1:{g}" for j, g in enumerate(gossip)
                       if j != i)]  # fmt: skip
            servers.append(_alertmanager(tmp / f"am-{i}", config, flags))
        deadline = time.monotonic() + 30
        while not all(cluster_size(s.url) == len(configs) for s in servers):
            if time.monotonic() > deadline:
                raise CablewatchError(f"alertmanager replicas did not form a cluster of "
                                      f"{len(configs)} in 30 s: {servers[0].log}")  # fmt: skip
            time.sleep(0.1)
        yield servers
    finally:
        for s in servers:
            s.stop()


def cluster_size(url: str) -> int:
    """How many replicas (itself included) an Alertmanager sees in its cluster."""
    status = httpx.get(f"{url}/api/v2/status", timeout=5).json()
    return len(status.get("cluster", {}).get("peers") or [])


def active_alerts(url: str) -> list[dict[str, Any]]:
    """The alerts an Alertmanager at ``url`` holds as active (v2 API)."""
    alerts: list[dict[str, Any]] = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    return [a for a in alerts if a["status"]["state"] == "active"]


def watch_alerts(
    url: str, done: Callable[[list[dict[str, Any]]], bool], timeout_s: float, *,
    poll_s: float = 0.1,
) -> list[tuple[float, list[dict[str, Any]]]]:  # fmt: skip
    """Alertmanager's active alerts every ``poll_s``, each with its monotonic time, until
    ``done(alerts)`` holds (the last entry); CablewatchError after ``timeout_s``."""
    start = time.monotonic()
    history = []
    while True:
        alerts = active_alerts(url)
        history.append((time.monotonic(), alerts))
        if done(alerts):
            return history
        if time.monotonic() - start > timeout_s:
            raise CablewatchError(f"{url}: timed out after {timeout_s:g} s; alerts: {alerts}")
        time.sleep(poll_s)


def agent_config(
    path: Path,
    influx_url: str,
    *,
    database: str = "cw",
    alertmanager_url: str | list[str] = "",
    interval_s: float = 1.0,
    packet_interval_s: float = 0.05,
    timeout_s: float = 0.5,
    icmp_only: bool = False,
    protocols: tuple[str, ...] | None = None,
    service_path: bool | None = None,
    trace_interval_s: float = 60.0,
    poll_s: float = 1.0,
    flush_interval_s: float = 1.0,
    record_inputs: Path | None = None,
) -> Path:
    """The default topology probed fast (by default every second: 5 packets 50 ms apart, 0.5 s
    timeout, every protocol; traces every ``trace_interval_s``; ``icmp_only``: ICMP alone;
    ``protocols``: these (with ``stamp``, the lab's one clock: ``stamp_clock_error_ms = 0``);
    ``service_path``: trace the service address, by default unless ``icmp_only``), writing to
    ``influx_url``: the agents' and the evaluator's configuration in the lab's tests,
    benchmarks and demo; ``alertmanager_url`` is one Alertmanager, or a list of a cluster's
    replicas; ``record_inputs``: the evaluator records the rounds it judges there. Written to
    ``path``."""
    from cablewatch.config import default_path

    text = default_path().read_text()
    service = "" if (not icmp_only if service_path is None else service_path) else "# "
    every = 'protocols = ["icmp", "tcp", "http", "dns", "ttft", "trace"]'
    probed = 'protocols = ["icmp"]' if icmp_only else every
    if protocols is not None:
        probed = "protocols = [" + ", ".join(f'"{p}"' for p in protocols) + "]"
    one_clock = ("stamp_clock_error_ms = 0  # the lab's namespaces share one clock\n"
                 if protocols and "stamp" in protocols else "")  # fmt: skip
    commented = "# alertmanager_url = "
    if isinstance(alertmanager_url, list):  # every replica of a cluster
        listed = ", ".join(f'"{u}"' for u in alertmanager_url)
        alerting = f"alertmanager_urls = [{listed}] #"
    else:
        alerting = f'alertmanager_url = "{alertmanager_url}" #' if alertmanager_url else commented
    for old, new, count in (
        ("interval_s = 10.0", f"interval_s = {interval_s}", 1),
        ("packet_interval_s = 0.2 ", f"packet_interval_s = {packet_interval_s} ", 1),
        ("timeout_s = 2.0", f"timeout_s = {timeout_s}", 1),
        ("[probe]\n", f"[probe]\n{one_clock}", 1),
        ("poll_s = 1.0", f"poll_s = {poll_s}" + (f'\nrecord_inputs = "{record_inputs}"'
                                                  if record_inputs else ""), 1),
        (commented, alerting, 1),
        ("trace_interval_s = 60.0", f"trace_interval_s = {trace_interval_s}", 1),
        (every, probed, 3),
        ("service_address = ", f"{service}service_address = ", 1),
        ("service_protocols = ", f"{service}service_protocols = ", 1),
    ):  # fmt: skip
        if text.count(old) != count:
            raise CablewatchError(f"{default_path()}: expected {old!r} to make a fast config")
        text = text.replace(old, new)
    text += (
        f'\n[sinks.influxdb]\nurl = "{influx_url}"\ndatabase = "{database}"\n'
        f"flush_interval_s = {flush_interval_s}\n"
    )
    path.write_text(text)
    return path


CABLEWATCH = [sys.executable, "-m", "cablewatch"]


def start_agent(
    state: dict[str, Any], region: str, config: Path, tmp: Path, *, listen_port: int | None = 9516
) -> subprocess.Popen[bytes]:
    """``cablewatch agent`` for ``region`` inside its lab namespace: spool ``tmp/REGION.db``,
    log ``tmp/REGION.log`` (appended), metrics on the region's management address."""
    ns = state["region_ns"][region]
    cmd = ["ip", "netns", "exec", ns, *CABLEWATCH, "agent", "--config", str(config),
           "--region", region, "--spool", str(tmp / f"{region}.db"),
           "--host", f"{region}-probe"]  # fmt: skip
    if listen_port is not None:
        cmd += ["--listen", f"{state['mgmt_region_addr'][region]}:{listen_port}"]
    with (tmp / f"{region}.log").open("ab") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


@contextlib.contextmanager
def agents(
    state: dict[str, Any], config: Path, tmp: Path, *, listen_port: int | None = 9516
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """An agent in every region of the lab; stopped with SIGTERM (then SIGKILL) on exit. The
    dict may be changed (an agent killed and restarted): what it holds at exit is stopped."""
    procs = {r: start_agent(state, r, config, tmp, listen_port=listen_port)
             for r in state["region_ns"]}  # fmt: skip
    try:
        yield procs
    finally:
        terminate(list(procs.values()))


@contextlib.contextmanager
def evaluator(
    config: Path, log: Path, listen: str, *, command: str = "evaluate", instance: str = ""
) -> Iterator[subprocess.Popen[bytes]]:
    """``cablewatch evaluate`` (or ``serve``) on this host, metrics on ``listen``, logging to
    ``log``; ``instance``: its name on the bus."""
    with log.open("ab") as out:
        cmd = [*CABLEWATCH, command, "--config", str(config), "--listen", listen,
               *(("--instance", instance) if instance else ())]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    with stopping([proc]):
        yield proc


def add_api(config: Path, host: str, port: int, tokens: Path, token: str) -> str:
    """Give ``config`` an [api] section on ``host:port`` whose one bearer token, ``token``, is
    in the file ``tokens``, and whose status links are signed with a key beside it; returns
    the API's base URL."""
    tokens.write_text(token + "\n")
    key = tokens.with_name(tokens.name + ".link-key")
    key.write_text(secrets.token_hex(16) + "\n")
    with config.open("a") as f:
        f.write(f'[api]\nlisten_host = "{host}"\nlisten_port = {port}\n'
                f'tokens_file = "{tokens}"\nstatus_link_key_file = "{key}"\n')  # fmt: skip
    return f"http://{host}:{port}"


@contextlib.contextmanager
def stopping(procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Stop ``procs`` on exit (as it is then: the list may grow meanwhile)."""
    try:
        yield
    finally:
        terminate(procs)


def terminate(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, 30 s to exit, then SIGKILL."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
