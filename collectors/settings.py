"""Settings of the sinks (``[sinks.influxdb]``, ``[sinks.prometheus]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cablewatch.schema import Int, Num, Str, Table, valid_url

__all__ = ["InfluxSink", "PrometheusSink", "Sinks"]


@dataclass(frozen=True, slots=True)
class InfluxSink:
    url: str
    mode: Literal["v1", "v2"] = "v1"
    """v1: ``POST /write`` (InfluxDB 1.x); v2: influxdb-client's write API."""
    database: str = "cablewatch"
    org: str = ""
    bucket: str = ""
    rollup_bucket: str = ""
    """v2: the bucket the evaluator's 1-minute rollups go to (its InfluxQL reads them as the
    ``rollup`` retention policy: map database/rollup to it, DBRP); default ``<bucket>_rollup``."""
    username: str = ""
    secret_env: str = ""
    """The password (v1) or token (v2), from this environment variable ..."""
    secret_file: str = ""
    """... or this file; never from the configuration file itself."""
    flush_interval_s: float = 1.0
    """Agents send a batch that is not full after this long (a full one at once): lower
    brings fresh rounds to the evaluator sooner, for more, smaller writes."""
    backfill_after_s: float = 30.0
    """A round stored this long after it started is late (a spool draining after an outage):
    the agent notes the span of its late rounds (measurement ``backfill``) once they are
    stored, and the evaluator rolls those minutes up again; it re-reads only the last
    60 s + this + one SLA pass of raw points otherwise."""

    @classmethod
    def from_table(cls, t: Table) -> InfluxSink | None:
        url = t.string("url")
        v = t.read(mode=Str(("v1", "v2")), database=Str(), org=Str(), bucket=Str(),
                   rollup_bucket=Str(), username=Str(), token_env=Str(), token_file=Str(),
                   flush_interval_s=Num(0.01, 60), backfill_after_s=Num(1, 3600))  # fmt: skip
        t.finish(secret_hint=("token", "password"))
        if url is not None and not valid_url(url):
            t.problem("url", f"got {url!r}, expected an http:// or https:// URL")
            return None
        if "token_env" in v and "token_file" in v:
            t.problem("token_file", "give token_env or token_file, not both")
        if v.get("mode") == "v2" and not ("org" in v and "bucket" in v):
            t.problem("mode", "mode 'v2' needs org and bucket")
        if url is None:
            return None
        secrets = {"secret_env": v.pop("token_env", ""), "secret_file": v.pop("token_file", "")}
        return cls(url=url, **v, **secrets)


@dataclass(frozen=True, slots=True)
class PrometheusSink:
    listen_host: str = "127.0.0.1"
    listen_port: int = 9516

    @classmethod
    def from_table(cls, t: Table) -> PrometheusSink:
        out = cls(**t.read(listen_host=Str(), listen_port=Int(1, 65535)))
        t.finish()
        return out


@dataclass(frozen=True, slots=True)
class Sinks:
    influxdb: InfluxSink | None = None
    prometheus: PrometheusSink | None = None

    @classmethod
    def from_table(cls, t: Table | None) -> Sinks:
        if t is None:
            return cls()
        influx = t.table("influxdb", required=False)
        prom = t.table("prometheus", required=False)
        t.finish()
        return cls(
            influxdb=InfluxSink.from_table(influx) if influx is not None else None,
            prometheus=PrometheusSink.from_table(prom) if prom is not None else None,
        )
