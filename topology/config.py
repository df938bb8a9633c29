"""Load and validate the cablewatch configuration file (TOML).

Everything is checked at load time: types, ranges, unknown keys, references between sections
(a target's cable must exist, a path must be at least as long as the great circle, ...). Every
problem found is reported at once, each naming the file, the dotted key, the value and what was
expected; see :class:`cablewatch.errors.ConfigError`.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from importlib import resources
from pathlib import Path as FsPath
from typing import Any, Literal, cast

from cablewatch.correlation.settings import DetectionSettings
from cablewatch.errors import ConfigError, ConfigIssue
from cablewatch.evaluator.settings import AlertingSettings, EvaluatorSettings
from cablewatch.failover.settings import FailoverSettings
from cablewatch.gateway.settings import ApiSettings, WebhookSettings
from cablewatch.sla.policy import SlaPolicy
from cablewatch.topology import physics
from cablewatch.topology.model import (
    PROTOCOLS,
    Cable,
    InfluxSink,
    LandingPoint,
    LandingStation,
    Path,
    ProbeSettings,
    PrometheusSink,
    Protocol,
    Region,
    Sinks,
    Target,
    Topology,
    normalise_name,
)
from cablewatch.topology.schema import Table

__all__ = ["DEFAULT_TOPOLOGY", "default_path", "load", "load_default", "parse"]

DEFAULT_TOPOLOGY = "shantou.toml"
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")


def default_path() -> FsPath:
    """Path of the packaged default topology (Shantou, ADC / SJC / APCN-2)."""
    return FsPath(str(resources.files("cablewatch.topology") / "data" / DEFAULT_TOPOLOGY))


def load_default() -> Topology:
    return load(default_path())


def load(path: str | FsPath) -> Topology:
    """Read and validate ``path``; raise ConfigError naming every problem."""
    file = FsPath(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(file), "(file)", exc.strerror or str(exc))]) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue(str(file), "(file)", f"not UTF-8 text: {exc}")]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigIssue(str(file), "(syntax)", f"invalid TOML: {exc}")]) from exc
    return parse(data, file)


def parse(data: dict[str, Any], file: FsPath) -> Topology:
    issues: list[ConfigIssue] = []
    root = Table(str(file), "", data, issues)

    station = _landing_station(root.table("landing_station"))
    cables = _cables(root.tables("cables"))
    cable_names = {normalise_name(c.name): c for c in cables}
    regions = _regions(root.tables("regions"), cable_names, station)
    region_ids = {r.id for r in regions}
    probe = _probe(root.table("probe", required=False))
    targets = _targets(root.tables("targets", required=False), cable_names, region_ids)
    sinks = _sinks(root.table("sinks", required=False))
    slas = _slas(root.tables("sla", required=False), cables, region_ids)
    detection = _detection(root.table("detection", required=False))
    alerting = _alerting(root.table("alerting", required=False))
    evaluator = _evaluator(root.table("evaluator", required=False))
    failover = _failover(root.table("failover", required=False))
    api = _api(root.table("api", required=False))
    webhooks = _webhooks(root.tables("webhooks", required=False))
    root.finish()

    if issues:
        raise ConfigError(issues)
    assert station is not None  # no issues means every required part was read
    return Topology(
        source=file,
        landing_station=station,
        cables=tuple(cables),
        regions=tuple(regions),
        targets=tuple(targets),
        probe=probe,
        sinks=sinks,
        slas=tuple(slas),
        detection=detection,
        alerting=alerting,
        evaluator=evaluator,
        failover=failover,
        api=api,
        webhooks=tuple(webhooks),
    )


def _coords(t: Table) -> tuple[float | None, float | None]:
    return t.number("lat", low=-90, high=90), t.number("lon", low=-180, high=180)


def _landing_station(t: Table | None) -> LandingStation | None:
    if t is None:
        return None
    sid = _identifier(t, "id")
    name = t.string("name")
    lat, lon = _coords(t)
    t.finish()
    if sid is None or name is None or lat is None or lon is None:
        return None
    return LandingStation(sid, name, lat, lon)


def _identifier(t: Table, key: str) -> str | None:
    value = t.string(key)
    if value is not None and not _ID.match(value):
        t.problem(key, f"got {value!r}, expected a lowercase id such as 'kuala-lumpur'")
        return None
    return value


def _cables(tables: list[Table]) -> list[Cable]:
    cables: list[Cable] = []
    seen: dict[str, str] = {}
    for t in tables:
        name = t.string("name")
        length = t.number("length_km", low=0, low_open=True)
        points: list[LandingPoint] = []
        for lp_t in t.tables("landing_points"):
            lp_name = lp_t.string("name")
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
        cables.append(Cable(name, length, tuple(points)))
    return cables


def _regions(
    tables: list[Table], cables: dict[str, Cable], station: LandingStation | None
) -> list[Region]:
    regions: list[Region] = []
    seen: set[str] = set()
    for t in tables:
        rid = _identifier(t, "id")
        name = t.string("name")
        lat, lon = _coords(t)
        paths: dict[str, Path] = {}
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


def _path(t: Table, region: str, cable: Cable) -> Path | None:
    km = t.number("path_km", required=False, low=0, low_open=True)
    delay = t.number("one_way_ms", required=False, low=0, low_open=True)
    landing = t.string("landing_point", required=False)
    note = t.string("note", required=False, default="") or ""
    t.finish()
    if landing is not None and cable.landing_point(landing) is None:
        known = ", ".join(lp.name for lp in cable.landing_points)
        t.problem("landing_point", f"{cable.name} has no landing point {landing!r} (has: {known})")
        return None
    if (km is None) == (delay is None):
        if "path_km" not in t.data and "one_way_ms" not in t.data:
            t.problem("", "give exactly one of path_km or one_way_ms; got neither")
        elif km is not None and delay is not None:
            t.problem("", "give exactly one of path_km or one_way_ms; got both")
        return None
    if km is not None:
        return Path(region, cable.name, km, landing, None, note)
    assert delay is not None
    return Path(region, cable.name, physics.path_km_for_one_way_ms(delay), landing, delay, note)


def _probe(t: Table | None) -> ProbeSettings:
    d = ProbeSettings()
    if t is None:
        return d
    interval = t.number("interval_s", required=False, default=d.interval_s, low=0, low_open=True)
    packets = t.integer("packets", required=False, default=d.packets, low=1, high=1000)
    gap = t.number(
        "packet_interval_s", required=False, default=d.packet_interval_s, low=0.001, high=60
    )
    timeout = t.number("timeout_s", required=False, default=d.timeout_s, low=0, low_open=True)
    tcp_port = t.integer("tcp_port", required=False, default=d.tcp_port, low=1, high=65535)
    scheme = t.string(
        "http_scheme", required=False, default=d.http_scheme, choices=("http", "https")
    )
    http_port = t.integer("http_port", required=False, default=d.http_port, low=1, high=65535)
    http_path = t.string("http_path", required=False, default=d.http_path)
    dns_port = t.integer("dns_port", required=False, default=d.dns_port, low=1, high=65535)
    dns_name = t.string("dns_name", required=False, default=d.dns_name)
    dns_type = t.string(
        "dns_type", required=False, default=d.dns_type, choices=("A", "AAAA", "TXT", "CNAME")
    )
    others = {
        key: t.number(key, required=False, default=interval, low=0.01)
        for key in ("tcp_interval_s", "http_interval_s", "dns_interval_s")
    }
    t.finish()
    if http_path is not None and not http_path.startswith("/"):
        t.problem("http_path", f"got {http_path!r}, expected a path starting with '/'")
    if None in (interval, packets, gap, timeout):
        return d
    assert interval is not None
    assert packets is not None
    assert gap is not None
    assert timeout is not None
    round_s = (packets - 1) * gap + timeout
    if round_s > interval:
        t.problem(
            "interval_s",
            f"got {interval:g}, but a round of {packets} packets {gap:g} s apart with a "
            f"{timeout:g} s timeout takes up to {round_s:g} s: expected interval_s >= {round_s:g}",
        )
    return ProbeSettings(
        interval_s=interval,
        packets=packets,
        packet_interval_s=gap,
        timeout_s=timeout,
        tcp_port=tcp_port or d.tcp_port,
        http_scheme=cast(Literal["http", "https"], scheme or d.http_scheme),
        http_port=http_port or d.http_port,
        http_path=http_path or d.http_path,
        dns_port=dns_port or d.dns_port,
        dns_name=dns_name or d.dns_name,
        dns_type=dns_type or d.dns_type,
        tcp_interval_s=others["tcp_interval_s"] or interval,
        http_interval_s=others["http_interval_s"] or interval,
        dns_interval_s=others["dns_interval_s"] or interval,
    )


def _valid_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return bool(_HOSTNAME.match(value)) and not value.replace(".", "").isdigit()
    return True


def _targets(tables: list[Table], cables: dict[str, Cable], region_ids: set[str]) -> list[Target]:
    out: list[Target] = []
    for t in tables:
        cable_name = t.string("cable")
        address = t.string("address")
        protocols = t.string_list("protocols", required=False, choices=PROTOCOLS)
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
        out.append(
            Target(
                cable=cable.name,
                address=address,
                protocols=tuple(cast(list[Protocol], protocols or ["icmp"])),
                regions=tuple(regions or sorted(region_ids)),
            )
        )
    return out


def _sinks(t: Table | None) -> Sinks:
    if t is None:
        return Sinks()
    influx = _influx(t.table("influxdb", required=False))
    prom_t = t.table("prometheus", required=False)
    prom = None
    if prom_t is not None:
        host = prom_t.string("listen_host", required=False, default="127.0.0.1")
        port = prom_t.integer("listen_port", required=False, default=9516, low=1, high=65535)
        prom_t.finish()
        prom = PrometheusSink(host or "127.0.0.1", port or 9516)
    t.finish()
    return Sinks(influxdb=influx, prometheus=prom)


def _influx(t: Table | None) -> InfluxSink | None:
    if t is None:
        return None
    url = t.string("url")
    mode = t.string("mode", required=False, default="v1", choices=("v1", "v2"))
    database = t.string("database", required=False, default="cablewatch")
    org = t.string("org", required=False, default="") or ""
    bucket = t.string("bucket", required=False, default="") or ""
    username = t.string("username", required=False, default="") or ""
    secret_env = t.string("token_env", required=False, default="") or ""
    secret_file = t.string("token_file", required=False, default="") or ""
    t.finish(secret_hint=("token", "password"))
    if url is not None and not re.match(r"^https?://[^/\s]+", url):
        t.problem("url", f"got {url!r}, expected an http:// or https:// URL")
        return None
    if secret_env and secret_file:
        t.problem("token_file", "give token_env or token_file, not both")
    if mode == "v2" and not (org and bucket):
        t.problem("mode", "mode 'v2' needs org and bucket")
    if url is None or mode is None or database is None:
        return None
    return InfluxSink(
        url=url,
        mode=cast(Literal["v1", "v2"], mode),
        database=database,
        org=org,
        bucket=bucket,
        username=username,
        secret_env=secret_env,
        secret_file=secret_file,
    )


def _slas(tables: list[Table], cables: list[Cable], region_ids: set[str]) -> list[SlaPolicy]:
    d = SlaPolicy("", (), ())
    out: list[SlaPolicy] = []
    seen: set[str] = set()
    cable_names = {normalise_name(c.name): c.name for c in cables}
    for t in tables:
        customer = _identifier(t, "customer")
        regions = t.string_list("regions")
        listed = t.string_list("cables", required=False)
        availability = t.number("availability_pct", required=False, default=d.availability_pct,
                                low=0, high=100, low_open=True)  # fmt: skip
        period = t.integer("period_days", required=False, default=d.period_days, low=1, high=400)
        rtt = t.number("rtt_p95_ms", required=False, default=d.rtt_p95_ms, low=0, low_open=True)
        loss = t.number("loss_pct", required=False, default=d.loss_pct, low=0, high=100)
        window = t.integer("objective_window_s", required=False, default=d.objective_window_s,
                           low=60)  # fmt: skip
        bad_loss = t.number("bad_minute_loss_pct", required=False,
                            default=d.bad_minute_loss_pct, low=0, high=100)  # fmt: skip
        bad_rtt = t.number("bad_minute_rtt_ms", required=False, default=d.bad_minute_rtt_ms,
                           low=0, low_open=True)  # fmt: skip
        min_packets = t.integer("min_packets", required=False, default=d.min_packets, low=1)
        t.finish()
        unknown = [r for r in regions or () if r not in region_ids]
        if unknown:
            known = ", ".join(sorted(region_ids))
            t.problem("regions", f"unknown region {unknown[0]!r} (known: {known})")
        names = listed or [c.name for c in cables]
        strangers = [n for n in names if normalise_name(n) not in cable_names]
        if strangers:
            known = ", ".join(cable_names.values())
            t.problem("cables", f"unknown cable {strangers[0]!r} (known: {known})")
        if availability is not None and availability == 100:
            t.problem("availability_pct", "got 100, expected less than 100: a 100 % objective "
                      "leaves no error budget")  # fmt: skip
            availability = None
        if customer in seen:
            t.problem("customer", f"customer {customer!r} has two [[sla]] policies")
            continue
        values = (customer, regions, availability, period, rtt, loss, window, bad_loss, bad_rtt,
                  min_packets)  # fmt: skip
        if None in values or unknown or strangers:
            continue
        assert customer is not None
        assert regions is not None
        seen.add(customer)
        out.append(SlaPolicy(
            customer=customer, regions=tuple(regions),
            cables=tuple(cable_names[normalise_name(n)] for n in names),
            availability_pct=cast(float, availability), period_days=cast(int, period),
            rtt_p95_ms=cast(float, rtt), loss_pct=cast(float, loss),
            objective_window_s=cast(int, window), bad_minute_loss_pct=cast(float, bad_loss),
            bad_minute_rtt_ms=cast(float, bad_rtt), min_packets=cast(int, min_packets),
        ))  # fmt: skip
    return out


def _detection(t: Table | None) -> DetectionSettings:
    d = DetectionSettings()
    if t is None:
        return d

    def count(key: str) -> int:
        value = t.integer(key, required=False, default=getattr(d, key), low=1, high=100_000)
        return int(getattr(d, key) if value is None else value)

    def number(key: str, low: float, high: float | None = None, low_open: bool = False) -> float:
        value = t.number(key, required=False, default=getattr(d, key), low=low, high=high,
                         low_open=low_open)  # fmt: skip
        return float(getattr(d, key) if value is None else value)

    out = DetectionSettings(
        enter_rounds=count("enter_rounds"),
        leave_rounds=count("leave_rounds"),
        loss_pct=number("loss_pct", 0, 100, low_open=True),
        step_ms=number("step_ms", 0, low_open=True),
        step_ratio=number("step_ratio", 0),
        max_stretch=number("max_stretch", 1),
        baseline_rounds=count("baseline_rounds"),
        min_baseline_rounds=count("min_baseline_rounds"),
        min_regions=count("min_regions"),
        settle_s=t.number("settle_s", required=False, low=0),
        stale_s=t.number("stale_s", required=False, low=0, low_open=True),
    )
    t.finish()
    return out


def _alerting(t: Table | None) -> AlertingSettings:
    d = AlertingSettings()
    if t is None:
        return d
    url = t.string("alertmanager_url", required=False, default="") or ""
    resend = t.number("resend_s", required=False, default=d.resend_s, low=1)
    t.finish()
    if url and not re.match(r"^https?://[^/\s]+", url):
        t.problem("alertmanager_url", f"got {url!r}, expected an http:// or https:// URL")
    return AlertingSettings(url.rstrip("/"), resend or d.resend_s)


def _evaluator(t: Table | None) -> EvaluatorSettings:
    d = EvaluatorSettings()
    if t is None:
        return d
    poll = t.number("poll_s", required=False, default=d.poll_s, low=0.1, high=3600)
    sla = t.number("sla_interval_s", required=False, default=d.sla_interval_s, low=1)
    host = t.string("listen_host", required=False, default=d.listen_host)
    port = t.integer("listen_port", required=False, default=d.listen_port, low=0, high=65535)
    t.finish()
    return EvaluatorSettings(
        poll or d.poll_s, sla or d.sla_interval_s, host or d.listen_host,
        d.listen_port if port is None else port,
    )  # fmt: skip


def _failover(t: Table | None) -> FailoverSettings:
    d = FailoverSettings()
    if t is None:
        return d
    window = t.integer("window_rounds", required=False, default=d.window_rounds, low=1,
                       high=1000)  # fmt: skip

    def number(key: str) -> float:
        value = t.number(key, required=False, default=getattr(d, key), low=0)
        return float(getattr(d, key) if value is None else value)

    out = FailoverSettings(
        window_rounds=d.window_rounds if window is None else window,
        clean_loss_pct=number("clean_loss_pct"),
        min_gain_ms=number("min_gain_ms"),
        min_gain_pct=number("min_gain_pct"),
        dwell_s=number("dwell_s"),
        holddown_s=number("holddown_s"),
    )
    t.finish()
    return out


def _api(t: Table | None) -> ApiSettings | None:
    if t is None:
        return None
    d = ApiSettings()
    host = t.string("listen_host", required=False, default=d.listen_host) or d.listen_host
    port = t.integer("listen_port", required=False, default=d.listen_port, low=0, high=65535)
    env = t.string("tokens_env", required=False, default="") or ""
    file = t.string("tokens_file", required=False, default="") or ""
    t.finish(secret_hint=("token", "tokens"))
    if bool(env) == bool(file):
        t.problem("", "give exactly one of tokens_env or tokens_file: the API needs bearer "
                  "tokens, and they never live in this file")  # fmt: skip
    return ApiSettings(host, d.listen_port if port is None else port, env, file)


def _webhooks(tables: list[Table]) -> list[WebhookSettings]:
    out = []
    for t in tables:
        url = t.string("url")
        env = t.string("secret_env", required=False, default="") or ""
        file = t.string("secret_file", required=False, default="") or ""
        attempts = t.integer("max_attempts", required=False, default=6, low=1, high=20)
        t.finish(secret_hint=("secret",))
        if url is not None and not re.match(r"^https?://[^/\s]+", url):
            t.problem("url", f"got {url!r}, expected an http:// or https:// URL")
            continue
        if bool(env) == bool(file):
            t.problem("", "give exactly one of secret_env or secret_file (the HMAC key)")
            continue
        if url is not None:
            out.append(WebhookSettings(url, env, file, attempts or 6))
    return out
