"""The topology: one landing station, its cables, the regions it serves, probe targets.

The domain only (plain frozen dataclasses): what is where, and the physics of its paths. The
configuration file is read and validated by :mod:`cablewatch.config`, which builds these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cablewatch.errors import UnknownNameError
from cablewatch.topology import physics

__all__ = [
    "Cable",
    "CablePath",
    "LandingPoint",
    "LandingStation",
    "Region",
    "Target",
    "Topology",
    "lookup",
    "normalise_name",
]


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
    hop_prefixes: tuple[str, ...] = ()
    """Address prefixes (CIDR) of routers on this cable's paths: a traced hop inside one of
    them was on this cable (cablewatch.topology.attribution)."""
    hop_names: tuple[str, ...] = ()
    """Shell patterns of those routers' reverse names, matched case-insensitively."""

    def landing_point(self, name: str) -> LandingPoint | None:
        key = normalise_name(name)
        return next((lp for lp in self.landing_points if normalise_name(lp.name) == key), None)


@dataclass(frozen=True, slots=True)
class LandingStation:
    id: str
    name: str
    lat: float
    lon: float
    service_address: str = ""
    """Where customers reach the station, over whatever route the network picks ('' none)."""
    service_protocols: tuple[str, ...] = ()
    """Protocols each region runs against the service address (its "service path")."""


@dataclass(frozen=True, slots=True)
class CablePath:
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
    paths: Mapping[str, CablePath]
    """Keyed by cable name, in the order of the topology's cables."""

    def great_circle_km(self, station: LandingStation) -> float:
        return physics.great_circle_km(self.lat, self.lon, station.lat, station.lon)


@dataclass(frozen=True, slots=True)
class Target:
    """An address of the landing station reached over ``cable``, probed from ``regions``."""

    cable: str
    address: str
    protocols: tuple[str, ...]
    """Names of registered probe protocols (cablewatch.probes.registry)."""
    regions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Topology:
    """The landing station, its cables, the regions it serves and the addresses to probe."""

    landing_station: LandingStation
    cables: tuple[Cable, ...]
    regions: tuple[Region, ...]
    targets: tuple[Target, ...]

    def region(self, name: str) -> Region:
        """Find a region by id or display name, case-insensitively."""
        ids = [r.id for r in self.regions]
        rid = lookup("region", name, ids, {r.name: r.id for r in self.regions})
        return self.regions[ids.index(rid)]

    def cable(self, name: str) -> Cable:
        """Find a cable by name, case-insensitively (``adc``, ``APCN-2``, ``apcn2``)."""
        names = [c.name for c in self.cables]
        return self.cables[names.index(lookup("cable", name, names))]

    def targets_for(self, region: str, cable: str | None = None) -> list[Target]:
        """Targets probed from ``region`` (optionally over one cable), in cable order."""
        rid = self.region(region).id
        cname = self.cable(cable).name if cable is not None else None
        order = {c.name: i for i, c in enumerate(self.cables)}
        found = [
            t for t in self.targets if rid in t.regions and (cname is None or t.cable == cname)
        ]
        return sorted(found, key=lambda t: order[t.cable])
