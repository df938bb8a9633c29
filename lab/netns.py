"""Build and tear down the lab's namespaces, links and routes with iproute2.

Creation uses `ip -batch`: one process for the host and one per namespace. Tear-down finds
everything by name prefix, so it works without the state file too (after a crash, a SIGKILL).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

from cablewatch.errors import CablewatchError
from cablewatch.lab.plan import LabPlan

__all__ = ["create", "destroy", "existing_namespaces", "run", "sysctl"]

NETNS_ETC = Path("/etc/netns")
_COMMON_SYSCTLS = (
    "net.ipv6.conf.all.disable_ipv6=1",  # lab links are IPv4: no router solicitations
    "net.ipv6.conf.default.disable_ipv6=1",
    "net.ipv4.icmp_ratelimit=0",  # every traceroute hop answers
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
)


def run(args: list[str], *, stdin: str | None = None) -> str:
    """Run a command; a failure raises CablewatchError with its stderr."""
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise CablewatchError(f"`{' '.join(args[:6])}...` failed: {detail[-1] if detail else ''}")
    return proc.stdout


def _batch(ns: str, commands: list[str]) -> None:
    if commands:
        run(["ip", *(["-n", ns] if ns else []), "-batch", "-"], stdin="\n".join(commands) + "\n")


def sysctl(ns: str, *settings: str) -> None:
    run(["ip", "netns", "exec", ns, "sysctl", "-qw", *settings])


def existing_namespaces(prefix: str) -> list[str]:
    out = run(["ip", "netns", "list"])
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(prefix + "-")]


def create(plan: LabPlan) -> None:
    """Create every namespace, link, address and route of ``plan`` (on a clean host)."""
    host: list[str] = [f"netns add {ns}" for ns in plan.namespaces]
    host += [
        f"link add name {plan.mgmt_bridge} type bridge",
        f"addr add {plan.mgmt_host_addr} dev {plan.mgmt_bridge}",
        f"link set dev {plan.mgmt_bridge} up",
    ]
    per_ns: dict[str, list[str]] = defaultdict(list)
    for ns in plan.namespaces:
        per_ns[ns].append("link set dev lo up")
    for link in plan.links:
        a = f"netns {link.ns_a} " if link.ns_a else ""
        host.append(
            f"link add name {link.dev_a} {a}type veth peer name {link.dev_b} netns {link.ns_b}"
        )
        for ns, dev, addr in (
            (link.ns_a, link.dev_a, link.addr_a),
            (link.ns_b, link.dev_b, link.addr_b),
        ):
            if not ns:  # the host end of a management link: into the bridge
                host.append(f"link set dev {dev} master {plan.mgmt_bridge} up")
                continue
            if addr:
                per_ns[ns].append(f"addr add {addr} dev {dev}")
            per_ns[ns].append(f"link set dev {dev} up")
    for seg in plan.segments:
        for ns, dev, addr in (
            (seg.lp_ns, seg.lp_dev, seg.lp_addr),
            (seg.shantou_ns, seg.shantou_dev, seg.shantou_addr),
        ):
            per_ns[ns] += [
                f"tuntap add dev {dev} mode tun",
                # the emulator reads a packet socket, never the TUN queue: keep that one small
                f"link set dev {dev} txqueuelen 16",
                f"addr add {addr} dev {dev}",
                f"link set dev {dev} up",
            ]
    for cable_addr in (*plan.station_addresses.values(), plan.service_vip):
        per_ns[plan.station_ns].append(f"addr add {cable_addr}/32 dev lo")
    routes: dict[str, list[str]] = defaultdict(list)
    for r in plan.routes:
        via = f" via {r.via}" if r.via else ""
        src = f" src {r.src}" if r.src else ""
        routes[r.ns].append(f"route add {r.destination}{via} dev {r.dev}{src}")

    _batch("", host)
    for ns in plan.namespaces:
        settings = list(_COMMON_SYSCTLS)
        if ns in plan.router_ns:
            settings.append("net.ipv4.ip_forward=1")
        if ns in plan.region_ns.values():
            settings.append("net.ipv4.ping_group_range=0 2147483647")  # agents need no root
        sysctl(ns, *settings)
        _batch(ns, per_ns[ns] + routes[ns])
    hosts = "127.0.0.1 localhost\n" + "".join(f"{a} {n}\n" for a, n in plan.hosts.items())
    for ns in plan.namespaces:
        etc = NETNS_ETC / ns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(hosts)


def destroy(prefix: str, bridge: str) -> list[str]:
    """Remove every namespace named ``prefix-*``, the bridge and /etc/netns entries."""
    removed: list[str] = []
    for ns in existing_namespaces(prefix):
        run(["ip", "netns", "delete", ns])
        removed.append(ns)
    for etc in NETNS_ETC.glob(f"{prefix}-*") if NETNS_ETC.exists() else []:
        shutil.rmtree(etc, ignore_errors=True)
    if Path("/sys/class/net", bridge).exists():
        run(["ip", "link", "delete", "dev", bridge])
        removed.append(bridge)
    # The host ends of the management veths (<prefix>m<N>) go with their namespace, but the
    # kernel frees a deleted namespace in the background, sometimes many seconds later: delete
    # them now, so that `down` leaves nothing behind when it returns.
    host_ends = f"{prefix}m"
    for link in sorted(Path("/sys/class/net").glob(f"{host_ends}*")):
        if link.name[len(host_ends) :].isdigit():
            with contextlib.suppress(CablewatchError):  # gone meanwhile: as good
                run(["ip", "link", "delete", "dev", link.name])
                removed.append(f"link {link.name}")
    return removed
