"""A NATS JetStream cluster for tests, benchmarks and the demo: three ``nats-server``
processes (Debian's package) on ports of this host, clustered over loopback, each with its
store in a directory of the caller's. Each node can be stopped (SIGKILL: a node dies) and
started again with the same store; the cluster is ready when every running node says
JetStream is healthy (its monitoring endpoint's ``/healthz``)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats

from cablewatch.harness.stack import Server, free_ports, need, wait_http

__all__ = ["NatsCluster", "NatsNode", "nats_cluster", "stream_leader", "stream_messages"]


@dataclass
class NatsNode:
    name: str
    url: str
    """The client URL (nats://HOST:PORT)."""
    server: Server
    """Its process; ``server.url`` is the monitoring endpoint."""

    def kill(self) -> None:
        """SIGKILL: the node dies as a machine would."""
        proc = self.server.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def start(self) -> None:
        self.server.start()

    @property
    def running(self) -> bool:
        return self.server.proc is not None and self.server.proc.poll() is None


@dataclass
class NatsCluster:
    nodes: list[NatsNode]

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def bus_section(self, **extra: str | int | float) -> str:
        """A ``[bus]`` section naming every node (and ``extra`` keys)."""
        listed = ", ".join(f'"{u}"' for u in self.urls)
        more = "".join(f"{k} = {v!r}\n" if isinstance(v, str) else f"{k} = {v}\n"
                       for k, v in extra.items())  # fmt: skip
        return f"\n[bus]\nurls = [{listed}]\n{more}".replace("'", '"')


@contextlib.contextmanager
def nats_cluster(tmp: Path, host: str = "127.0.0.1", size: int = 3) -> Iterator[NatsCluster]:
    """``size`` clustered nodes, clients on ``host``, routes and monitoring on loopback;
    stopped (SIGTERM, then SIGKILL) on exit."""
    binary = need("nats-server")
    tmp.mkdir(parents=True, exist_ok=True)
    ports = free_ports(3 * size) if host == "127.0.0.1" else free_ports(2 * size)
    clients = ports[2 * size :] if host == "127.0.0.1" else free_ports(size, host)
    routes, monitors = ports[:size], ports[size : 2 * size]
    nodes: list[NatsNode] = []
    try:
        for i in range(size):
            name = f"n{i + 1}"
            port, monitor = clients[i], monitors[i]
            listed = ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes)
            conf = tmp / f"{name}.conf"
            conf.write_text(
                f"server_name: {name}\nlisten: \"{host}:{port}\"\n"
                f"http: \"127.0.0.1:{monitor}\"\n"
                f"jetstream {{\n  store_dir: \"{tmp / name}\"\n  max_memory_store: 64MB\n"
                f"  max_file_store: 2GB\n}}\n"
                f"cluster {{\n  name: cablewatch\n  listen: \"127.0.0.1:{routes[i]}\"\n"
                f"  routes: [{listed}]\n}}\n"
            )  # fmt: skip
            server = Server(f"http://127.0.0.1:{monitor}", None, tmp / f"{name}.log",
                            [binary, "-c", str(conf)], "/healthz", (200,))  # fmt: skip
            node = NatsNode(name, f"nats://{host}:{port}", server)
            nodes.append(node)
            with server.log.open("ab") as out:  # all three at once: a cluster forms together
                server.proc = subprocess.Popen(server.args, stdout=out, stderr=subprocess.STDOUT)
        for node in nodes:
            assert node.server.proc is not None
            wait_http(node.server.url + "/healthz", (200,), node.server.proc, node.server.log)
        yield NatsCluster(nodes)
    finally:
        for node in nodes:
            node.server.stop()


async def stream_leader(urls: list[str], stream: str) -> str:
    """The name of the node leading ``stream`` now."""
    nc = await nats.connect(urls)
    try:
        info = await nc.jetstream().stream_info(stream)
        assert info.cluster is not None
        assert info.cluster.leader is not None
        return info.cluster.leader
    finally:
        await nc.close()


async def stream_messages(urls: list[str], stream: str) -> list[tuple[str, str]]:
    """Every message ``stream`` holds, in order: (its Nats-Msg-Id, its body)."""
    nc = await nats.connect(urls)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            out.append(((msg.headers or {}).get("Nats-Msg-Id", ""), (msg.data or b"").decode()))
        return out
    finally:
        await nc.close()
