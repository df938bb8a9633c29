"""The topology's sections of the configuration: ``[landing_station]``, ``[[cables]]``,
``[[regions]]`` (with their paths) and ``[[targets]]``, read into the domain model.

Checks that need the physics: a path can never be shorter than the great circle from its
region to the station (light in fibre cannot be that fast). Names that become InfluxDB tags
(cables, landing points) must survive line protocol: no control characters, no backslashes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection

from cablewatch.probes import icmp, traceroute
from cablewatch.schema import Num, Str, Table
from cablewatch.topology import physics
from cablewatch.topology.model import (
    Cable,
    CablePath,
    LandingPoint,
    LandingStation,
    Region,
    Target,
    Topology,
    normalise_name,
)

__all__ = ["read_topology"]

_SERVICE_PROTOCOLS = (traceroute.SPEC.protocol,)
"""What the service path may be probed with: its route is what a customer takes."""
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")


def read_topology(root: Table, protocols: Collection[str]) -> Topology | None:
    """The topology's sections of ``root``; None when a required part is missing or invalid
    (the issues say why). ``protocols``: the registered probe protocols."""
    station = _landing_station(root.table("landing_station"), protocols)
    cables = _cables(root.tables("cables"))
    by_name = {normalise_name(c.name): c for c in cables}
    regions = _regions(root.tables("regions"), by_name, station)
    targets = _targets(root.tables("targets", required=False), by_name,
                       [r.id for r in regions], protocols)  # fmt: skip
    if station is None:
        return None
    return Topology(station, tuple(cables), tuple(regions), tuple(targets))


def _coords(t: Table) -> tuple[float | None, float | None]:
    return t.number("lat", low=-90, high=90), t.number("lon", low=-180, high=180)


def _landing_station(t: Table | None, protocols: Collection[str]) -> LandingStation | None:
    if t is None:
        return None
    sid = t.identifier("id")
    name = t.string("name")
    lat, lon = _coords(t)
    service = t.string("service_address", required=False)
    # The service path's points carry no cable tag: only protocols whose points no per-cable
    # query reads may run there (today: trace).
    service_protocols = t.string_list(
        "service_protocols",
        required=False,
        choices=[p for p in protocols if p in _SERVICE_PROTOCOLS],
    )
    t.finish()
    if service is not None and not _valid_address(service):
        t.problem("service_address", f"got {service!r}, expected an IP address or a host name")
        service = None
    if service_protocols and not service:
        t.problem("service_protocols", "needs service_address: where to aim them")
    if sid is None or name is None or lat is None or lon is None:
        return None
    return LandingStation(
        sid,
        name,
        lat,
        lon,
        service or "",
        tuple(service_protocols or (_SERVICE_PROTOCOLS if service else ())),
    )


def _cables(tables: list[Table]) -> list[Cable]:
    cables: list[Cable] = []
    seen: dict[str, str] = {}
    for t in tables:
        name = t.name("name")
        length = t.number("length_km", low=0, low_open=True)
        prefixes = _prefixes(t)
        names = t.string_list("hop_names", required=False) or []
        points: list[LandingPoint] = []
        for lp_t in t.tables("landing_points"):
            lp_name = lp_t.name("name")
            country = lp_t.string("country")
            lat, lon = _coords(lp_t)
            lp_t.finish()
            if lp_name and country and lat is not None and lon is not None:
                points.append(LandingPoint(lp_name, country, lat, lon))
        t.finish()
        if name is None or length is None:
            continue
        key = normalise_name(name)
        if key in seen:
            t.problem("name", f"cable {name!r} is defined twice (also as {seen[key]!r})")
            continue
        seen[key] = name
        cables.append(Cable(name, length, tuple(points), tuple(prefixes), tuple(names)))
    return cables


def _prefixes(t: Table) -> list[str]:
    out: list[str] = []
    for text in t.string_list("hop_prefixes", required=False) or []:
        try:
            out.append(str(ipaddress.ip_network(text)))
        except ValueError as exc:
            t.problem("hop_prefixes", f"got {text!r}: {exc} (expected a prefix, e.g. "
                      "'198.18.16.0/20')")  # fmt: skip
    return out


def _regions(
    tables: list[Table], cables: dict[str, Cable], station: LandingStation | None
) -> list[Region]:
    regions: list[Region] = []
    seen: set[str] = set()
    for t in tables:
        rid = t.identifier("id")
        name = t.string("name")
        lat, lon = _coords(t)
        paths: dict[str, CablePath] = {}
        for cable_key, pt in t.subtables("paths"):
            cable = cables.get(normalise_name(cable_key))
            if cable is None:
                known = ", ".join(c.name for c in cables.values())
                pt.problem("", f"unknown cable {cable_key!r} (known: {known})")
                continue
            path = _path(pt, rid or "?", cable)
            if path is None:
                continue
            if station is not None and lat is not None and lon is not None:
                gc = physics.great_circle_km(lat, lon, station.lat, station.lon)
                if path.path_km < gc:
                    pt.problem(
                        "path_km" if path.configured_one_way_ms is None else "one_way_ms",
                        f"path of {path.path_km:,.0f} km is shorter than the great-circle "
                        f"distance {gc:,.0f} km from {name or rid} to {station.name}: "
                        "light in fibre cannot be that fast",
                    )
                    continue
            paths[cable.name] = path
        t.finish()
        if rid is None or name is None or lat is None or lon is None:
            continue
        if rid in seen:
            t.problem("id", f"region {rid!r} is defined twice")
            continue
        seen.add(rid)
        order = [c.name for c in cables.values() if c.name in paths]
        regions.append(Region(rid, name, lat, lon, {c: paths[c] for c in order}))
    return regions


def _path(t: Table, region: str, cable: Cable) -> CablePath | None:
    v = t.read(path_km=Num(0, low_open=True), one_way_ms=Num(0, low_open=True),
               landing_point=Str(), note=Str())  # fmt: skip
    t.finish()
    landing = v.get("landing_point")
    if landing is not None and cable.landing_point(landing) is None:
        known = ", ".join(lp.name for lp in cable.landing_points)
        t.problem("landing_point", f"{cable.name} has no landing point {landing!r} (has: {known})")
        return None
    km: float | None = v.get("path_km")
    delay: float | None = v.get("one_way_ms")
    if (km is None) == (delay is None):
        if "path_km" not in t.data and "one_way_ms" not in t.data:
            t.problem("", "give exactly one of path_km or one_way_ms; got neither")
        elif km is not None and delay is not None:
            t.problem("", "give exactly one of path_km or one_way_ms; got both")
        return None
    note = v.get("note", "")
    if km is not None:
        return CablePath(region, cable.name, km, landing, None, note)
    assert delay is not None
    return CablePath(region, cable.name, physics.path_km_for_one_way_ms(delay), landing, delay,
                     note)  # fmt: skip


def _valid_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return bool(_HOSTNAME.match(value)) and not value.replace(".", "").isdigit()
    return True


def _targets(
    tables: list[Table], cables: dict[str, Cable], region_ids: list[str],
    protocols: Collection[str],
) -> list[Target]:  # fmt: skip
    out: list[Target] = []
    for t in tables:
        cable_name = t.string("cable")
        address = t.string("address")
        listed = t.string_list("protocols", required=False, choices=protocols)
        regions = t.string_list("regions", required=False)
        t.finish()
        cable = cables.get(normalise_name(cable_name)) if cable_name else None
        if cable_name is not None and cable is None:
            known = ", ".join(c.name for c in cables.values())
            t.problem("cable", f"unknown cable {cable_name!r} (known: {known})")
        if address is not None and not _valid_address(address):
            t.problem("address", f"got {address!r}, expected an IP address or a host name")
            address = None
        unknown = [r for r in regions or () if r not in region_ids]
        if unknown:
            t.problem("regions", f"unknown region {unknown[0]!r} (known: {', '.join(region_ids)})")
        if cable is None or address is None or unknown:
            continue
        out.append(Target(cable.name, address, tuple(listed or [icmp.SPEC.protocol]),
                          tuple(regions or sorted(region_ids))))  # fmt: skip
    return out
