"""The lab's blueprint, computed from a topology (pure: no system calls).

Per region x cable, packets take a distinct path whose routers are named after the cable's
landing points, so traceroute shows the cable taken::

    region ns --veth-- <cable>-<landing point> router ==TUN segment== <cable>-shantou router
        --veth-- landing station ns (one service address per cable)

The segment between the landing-point router and the cable's Shantou router is the emulated
cable: two TUN devices whose packets the emulator moves with the path's delay, jitter and loss.
The probe chooses the cable by destination: the landing station has one address per cable, and
each region routes that address over the cable's access link.

Addresses (IPv4, inside the lab's own namespaces only):
- 198.18.0.0/21: TUN segments (/30 each); 198.18.8.0/21: station <-> Shantou routers (/30 each)
- 198.18.16*(c+1).0/20: region access links of cable c (/30 per region)
- the management subnet (default 198.18.255.0/24): host bridge .1, regions .10 upwards
- the landing station's per-cable service addresses: the topology's targets (198.19.c.1)
- the service address (VIP, 198.19.0.1): the same services, reachable over every cable; which
  cable a region uses for it is that region's route (initially its first cable), which the
  gateway stand-in (lab/standin.py) switches as the failover recommendations say

The way back is the station's: it routes each cable's access block over that cable, so every
path is symmetric until ``lab reroute REGION --via CABLE --return`` routes the region's
addresses back over one cable (the station's, the cable's Shantou router's and its landing
point router's routes; the region accepts a reply on any of its links).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from cablewatch.config import Config
from cablewatch.errors import CablewatchError

__all__ = ["AccessPath", "LabPlan", "Link", "Route", "Segment", "build_plan", "slug"]

_BASE = int(ipaddress.IPv4Address("198.18.0.0"))
SERVICE_VIP = "198.19.0.1"
_MAX_CABLES = 7
_MAX_REGIONS = 200


def slug(text: str, limit: int = 15) -> str:
    """Lowercase a-z0-9 and '-', at most ``limit`` characters (Linux interface names: 15)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].rstrip("-")


def _ip(offset: int) -> str:
    return str(ipaddress.IPv4Address(_BASE + offset))


@dataclass(frozen=True, slots=True)
class Link:
    """A veth pair: (namespace, device, address/prefix) at each end; ns '' is the host."""

    ns_a: str
    dev_a: str
    addr_a: str
    ns_b: str
    dev_b: str
    addr_b: str


@dataclass(frozen=True, slots=True)
class Segment:
    """An emulated cable segment: a TUN device in each router, joined by the emulator."""

    name: str  # <cable>-<landing point>
    cable: str
    landing_point: str
    lp_ns: str
    lp_dev: str
    lp_addr: str
    shantou_ns: str
    shantou_dev: str
    shantou_addr: str


@dataclass(frozen=True, slots=True)
class Route:
    ns: str
    destination: str
    dev: str
    via: str = ""
    src: str = ""


@dataclass(frozen=True, slots=True)
class AccessPath:
    """How one region reaches the landing station over one cable."""

    region: str
    cable: str
    landing_point: str
    segment: str
    region_ns: str
    region_addr: str  # the probe host's source address on this cable
    region_dev: str  # the region's device towards this cable
    router_addr: str  # the next hop: the landing-point router on the region's access link
    access_net: str  # the region's access /30 on this cable (emulator classification)
    target: str  # the landing station's address for this cable
    one_way_ms: float
    floor_rtt_ms: float
    hops: tuple[tuple[str, str], ...]  # (address, name) along the path, for traceroute


@dataclass(frozen=True, slots=True)
class LabPlan:
    prefix: str
    station_ns: str
    region_ns: dict[str, str]  # region id -> namespace
    router_ns: tuple[str, ...]
    links: tuple[Link, ...]
    segments: tuple[Segment, ...]
    routes: tuple[Route, ...]
    station_addresses: dict[str, str]  # cable -> service address
    paths: tuple[AccessPath, ...]
    mgmt_bridge: str
    mgmt_host_addr: str
    mgmt_region_addr: dict[str, str]
    hosts: dict[str, str] = field(default_factory=dict)  # address -> name
    service_vip: str = SERVICE_VIP
    station_next_hop: dict[str, str] = field(default_factory=dict)
    """Cable -> its Shantou router's address on the station's link (the way back over it)."""

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (*self.region_ns.values(), *self.router_ns, self.station_ns)

    def path(self, region: str, cable: str) -> AccessPath:
        for p in self.paths:
            if p.region == region and p.cable == cable:
                return p
        raise KeyError((region, cable))


def build_plan(
    config: Config, *, prefix: str = "cw", mgmt_subnet: str = "198.18.255.0/24"
) -> LabPlan:
    """The lab for ``config``'s topology; CablewatchError when it cannot be built as a lab."""
    topology = config.topology
    cables = topology.cables
    if len(cables) > _MAX_CABLES or len(topology.regions) > _MAX_REGIONS:
        raise CablewatchError(
            f"the lab holds at most {_MAX_CABLES} cables and {_MAX_REGIONS} regions"
        )
    station_addresses = _station_addresses(config)
    station_ns = f"{prefix}-{slug(topology.landing_station.id, 20)}"
    mgmt = ipaddress.IPv4Network(mgmt_subnet)
    if mgmt.num_addresses < len(topology.regions) + 16:
        raise CablewatchError(f"management subnet {mgmt_subnet} is too small")

    links: list[Link] = []
    segments: dict[tuple[str, str], Segment] = {}
    routes: list[Route] = []
    paths: list[AccessPath] = []
    hosts: dict[str, str] = {}
    routers: dict[str, None] = {}
    region_ns = {r.id: f"{prefix}-{r.id}" for r in topology.regions}
    mgmt_region_addr: dict[str, str] = {}
    mgmt_bridge = f"{prefix}-mgmt"

    # station <-> one Shantou router per cable
    shantou_ns: dict[str, str] = {}
    station_next_hop: dict[str, str] = {}
    for c, cable in enumerate(cables):
        ns = f"{prefix}-{slug(cable.name)}-{slug(topology.landing_station.id)}"
        shantou_ns[cable.name] = ns
        routers[ns] = None
        base = 2048 + 4 * c
        links.append(Link(station_ns, slug(cable.name), f"{_ip(base + 1)}/30",
                          ns, "station", f"{_ip(base + 2)}/30"))  # fmt: skip
        hosts[_ip(base + 2)] = f"{slug(cable.name)}-{slug(topology.landing_station.id)}"
        station_next_hop[cable.name] = _ip(base + 2)
        routes.append(Route(ns, f"{station_addresses[cable.name]}/32", "station", _ip(base + 1)))
        routes.append(Route(ns, f"{SERVICE_VIP}/32", "station", _ip(base + 1)))
        block = f"{_ip(4096 * (c + 1))}/20"
        routes.append(Route(station_ns, block, slug(cable.name), _ip(base + 2)))
        hosts[station_addresses[cable.name]] = (
            f"{slug(topology.landing_station.id)}-{slug(cable.name)}"
        )

    for r, region in enumerate(topology.regions):
        rns = region_ns[region.id]
        host_ip = ipaddress.IPv4Address(int(mgmt.network_address) + 10 + r)
        mgmt_region_addr[region.id] = str(host_ip)
        links.append(Link("", f"{prefix}m{r}", "", rns, "mgmt", f"{host_ip}/{mgmt.prefixlen}"))
        for c, cable in enumerate(cables):
            path = region.paths.get(cable.name)
            if path is None:
                continue
            lp_name = path.landing_point or "landing"
            seg_key = (cable.name, lp_name)
            if seg_key not in segments:
                k = len(segments)
                lp_ns = f"{prefix}-{slug(cable.name)}-{slug(lp_name, 30)}"
                routers[lp_ns] = None
                segment = Segment(
                    name=f"{slug(cable.name)}-{slug(lp_name, 30)}",
                    cable=cable.name,
                    landing_point=lp_name,
                    lp_ns=lp_ns,
                    lp_dev=slug(cable.name),
                    lp_addr=f"{_ip(4 * k + 1)}/30",
                    shantou_ns=shantou_ns[cable.name],
                    shantou_dev=slug(lp_name),
                    shantou_addr=f"{_ip(4 * k + 2)}/30",
                )
                segments[seg_key] = segment
                hosts[_ip(4 * k + 1)] = segment.name
                hosts[_ip(4 * k + 2)] = f"{slug(cable.name)}-{slug(topology.landing_station.id)}"
                routes.append(Route(lp_ns, f"{station_addresses[cable.name]}/32", segment.lp_dev))
                routes.append(Route(lp_ns, f"{SERVICE_VIP}/32", segment.lp_dev))
            segment = segments[seg_key]
            access = 4096 * (c + 1) + 4 * r
            region_addr, router_addr = _ip(access + 1), _ip(access + 2)
            links.append(Link(rns, slug(cable.name), f"{region_addr}/30",
                              segment.lp_ns, slug(region.id), f"{router_addr}/30"))  # fmt: skip
            hosts[router_addr] = segment.name
            hosts[region_addr] = f"{region.id}-{slug(cable.name)}"
            target = station_addresses[cable.name]
            routes.append(Route(rns, f"{target}/32", slug(cable.name), router_addr))
            if not any(p.region == region.id for p in paths):  # the VIP: the first cable
                routes.append(Route(rns, f"{SERVICE_VIP}/32", slug(cable.name), router_addr,
                                    region_addr))  # fmt: skip
            routes.append(Route(segment.shantou_ns, f"{_ip(access)}/30", segment.shantou_dev))
            hops = (
                (router_addr, segment.name),
                (segment.shantou_addr.split("/")[0], hosts[segment.shantou_addr.split("/")[0]]),
                (target, hosts[target]),
            )
            paths.append(
                AccessPath(
                    region=region.id,
                    cable=cable.name,
                    landing_point=lp_name,
                    segment=segment.name,
                    region_ns=rns,
                    region_addr=region_addr,
                    region_dev=slug(cable.name),
                    router_addr=router_addr,
                    access_net=f"{_ip(access)}/30",
                    target=target,
                    one_way_ms=path.one_way_ms,
                    floor_rtt_ms=path.floor_rtt_ms,
                    hops=hops,
                )
            )
    return LabPlan(
        prefix=prefix,
        station_ns=station_ns,
        region_ns=region_ns,
        router_ns=tuple(routers),
        links=tuple(links),
        segments=tuple(segments.values()),
        routes=tuple(routes),
        station_addresses=station_addresses,
        paths=tuple(paths),
        mgmt_bridge=mgmt_bridge,
        mgmt_host_addr=f"{ipaddress.IPv4Address(int(mgmt.network_address) + 1)}/{mgmt.prefixlen}",
        mgmt_region_addr=mgmt_region_addr,
        hosts=hosts,
        station_next_hop=station_next_hop,
    )


def _station_addresses(config: Config) -> dict[str, str]:
    """The landing station's address for each cable: the first IPv4 target of that cable."""
    topology = config.topology
    out: dict[str, str] = {}
    for cable in topology.cables:
        for target in topology.targets:
            if target.cable != cable.name:
                continue
            try:
                addr = ipaddress.IPv4Address(target.address)
            except ValueError:
                continue
            if addr.is_loopback or _BASE <= int(addr) < _BASE + (1 << 16):
                raise CablewatchError(
                    f"{config.source}: target {addr} of cable {cable.name} cannot be a lab "
                    "service address (loopback or inside the lab's 198.18.0.0/16)"
                )
            out[cable.name] = str(addr)
            break
        else:
            raise CablewatchError(
                f"{config.source}: cable {cable.name} has no IPv4 target to serve in the lab"
            )
    if SERVICE_VIP in out.values():
        raise CablewatchError(f"{config.source}: {SERVICE_VIP} is the lab's service address")
    if len(set(out.values())) != len(out):
        raise CablewatchError(f"{config.source}: two cables share a target address")
    return out
