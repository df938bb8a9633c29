"""The topology model: one landing station, its cables, the regions it serves, probe targets.

Plain frozen dataclasses, built and validated by :mod:`cablewatch.topology.config`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Literal

from cablewatch.correlation.settings import DetectionSettings
from cablewatch.errors import UnknownNameError
from cablewatch.evaluator.settings import AlertingSettings, EvaluatorSettings
from cablewatch.failover.settings import FailoverSettings
from cablewatch.gateway.settings import ApiSettings, WebhookSettings
from cablewatch.sla.policy import SlaPolicy
from cablewatch.topology import physics

__all__ = [
    "PROTOCOLS",
    "Cable",
    "InfluxSink",
    "LandingPoint",
    "LandingStation",
    "Path",
    "ProbeSettings",
    "PrometheusSink",
    "Protocol",
    "Region",
    "Sinks",
    "Target",
    "Topology",
    "lookup",
    "normalise_name",
]

Protocol = Literal["icmp", "tcp", "http", "dns"]
PROTOCOLS: tuple[Protocol, ...] = ("icmp", "tcp", "http", "dns")


def normalise_name(name: str) -> str:
    """Case-, space-, hyphen- and underscore-insensitive form used to look names up."""
    return "".join(ch for ch in name.lower() if ch not in " -_")


def lookup(kind: str, given: str, names: Sequence[str], aliases: Mapping[str, str] = {}) -> str:
    """The one of ``names`` (or of ``aliases``' targets, keyed by alias) that ``given`` means,
    compared with normalise_name; UnknownNameError listing ``names`` otherwise."""
    key = normalise_name(given)
    for name in names:
        if normalise_name(name) == key:
            return name
    for alias, name in aliases.items():
        if normalise_name(alias) == key:
            return name
    raise UnknownNameError(f"unknown {kind} {given!r} (known: {', '.join(names)})")


@dataclass(frozen=True, slots=True)
class LandingPoint:
    name: str
    country: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Cable:
    name: str
    length_km: float
    landing_points: tuple[LandingPoint, ...]

    def landing_point(self, name: str) -> LandingPoint | None:
        key = normalise_name(name)
        return next((lp for lp in self.landing_points if normalise_name(lp.name) == key), None)


@dataclass(frozen=True, slots=True)
class LandingStation:
    id: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Path:
    """How one region reaches the landing station over one cable."""

    region: str
    cable: str
    path_km: float
    landing_point: str | None = None
    """Where the region's traffic joins the cable (one of the cable's landing points)."""
    configured_one_way_ms: float | None = None
    """Set when the configuration gives the delay instead of the length."""
    note: str = ""

    @property
    def one_way_ms(self) -> float:
        if self.configured_one_way_ms is not None:
            return self.configured_one_way_ms
        return physics.one_way_ms(self.path_km)

    @property
    def floor_rtt_ms(self) -> float:
        return 2.0 * self.one_way_ms


@dataclass(frozen=True, slots=True)
class Region:
    id: str
    name: str
    lat: float
    lon: float
    paths: Mapping[str, Path]
    """Keyed by cable name, in the order of the topology's cables."""

    def great_circle_km(self, station: LandingStation) -> float:
        return physics.great_circle_km(self.lat, self.lon, station.lat, station.lon)


@dataclass(frozen=True, slots=True)
class Target:
    """An address of the landing station reached over ``cable``, probed from ``regions``."""

    cable: str
    address: str
    protocols: tuple[Protocol, ...]
    regions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    interval_s: float = 10.0
    """ICMP: one round of ``packets`` every interval_s."""
    packets: int = 5
    packet_interval_s: float = 0.2
    timeout_s: float = 2.0
    tcp_port: int = 443
    http_scheme: Literal["http", "https"] = "http"
    http_port: int = 80
    http_path: str = "/"
    dns_port: int = 53
    dns_name: str = "shantou.cablewatch.lab"
    dns_type: str = "A"
    tcp_interval_s: float = 10.0
    http_interval_s: float = 10.0
    dns_interval_s: float = 10.0


@dataclass(frozen=True, slots=True)
class InfluxSink:
    url: str
    mode: Literal["v1", "v2"]
    database: str
    org: str = ""
    bucket: str = ""
    username: str = ""
    secret_env: str = ""
    secret_file: str = ""


@dataclass(frozen=True, slots=True)
class PrometheusSink:
    listen_host: str = "127.0.0.1"
    listen_port: int = 9516


@dataclass(frozen=True, slots=True)
class Sinks:
    influxdb: InfluxSink | None = None
    prometheus: PrometheusSink | None = None


@dataclass(frozen=True, slots=True)
class Topology:
    source: FsPath
    landing_station: LandingStation
    cables: tuple[Cable, ...]
    regions: tuple[Region, ...]
    targets: tuple[Target, ...]
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    sinks: Sinks = field(default_factory=Sinks)
    slas: tuple[SlaPolicy, ...] = ()
    detection: DetectionSettings = field(default_factory=DetectionSettings)
    alerting: AlertingSettings = field(default_factory=AlertingSettings)
    evaluator: EvaluatorSettings = field(default_factory=EvaluatorSettings)
    failover: FailoverSettings = field(default_factory=FailoverSettings)
    api: ApiSettings | None = None
    webhooks: tuple[WebhookSettings, ...] = ()

    def region(self, name: str) -> Region:
        """Find a region by id or display name, case-insensitively."""
        ids = [r.id for r in self.regions]
        rid = lookup("region", name, ids, {r.name: r.id for r in self.regions})
        return self.regions[ids.index(rid)]

    def cable(self, name: str) -> Cable:
        """Find a cable by name, case-insensitively (``adc``, ``APCN-2``, ``apcn2``)."""
        names = [c.name for c in self.cables]
        return self.cables[names.index(lookup("cable", name, names))]

    def sla(self, customer: str) -> SlaPolicy:
        names = [p.customer for p in self.slas]
        return self.slas[names.index(lookup("customer", customer, names))]

    def targets_for(self, region: str, cable: str | None = None) -> list[Target]:
        """Targets probed from ``region`` (optionally over one cable), in cable order."""
        rid = self.region(region).id
        cname = self.cable(cable).name if cable is not None else None
        order = {c.name: i for i, c in enumerate(self.cables)}
        found = [
            t for t in self.targets if rid in t.regions and (cname is None or t.cable == cname)
        ]
        return sorted(found, key=lambda t: order[t.cable])
