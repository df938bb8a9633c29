"""DNS query time against a given server (aiodns / c-ares)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiodns
import pycares

from cablewatch.probes.result import ProbeResult, Status
from cablewatch.probes.spec import (
    DEFAULT_INTERVAL_S,
    DEFAULT_TIMEOUT_S,
    Column,
    CommonProbe,
    Point,
    ProbeContext,
    ProbeSpec,
    common_fields,
    ms_cell,
)
from cablewatch.probes.targets import host_port, parse_host_port
from cablewatch.schema import Int, Num, Str, Table

__all__ = ["SPEC", "DnsSettings", "dns_probe"]

# c-ares error -> (status, DNS rcode or None when no answer came back)
_ARES: dict[int, tuple[Status, str | None]] = {
    pycares.errno.ARES_ENOTFOUND: ("bad_status", "NXDOMAIN"),
    pycares.errno.ARES_ENODATA: ("ok", "NOERROR"),  # the name exists, no record of this type
    pycares.errno.ARES_ESERVFAIL: ("bad_status", "SERVFAIL"),
    pycares.errno.ARES_EREFUSED: ("bad_status", "REFUSED"),
    pycares.errno.ARES_ENOTIMP: ("bad_status", "NOTIMP"),
    pycares.errno.ARES_EFORMERR: ("bad_status", "FORMERR"),
    pycares.errno.ARES_ETIMEOUT: ("timeout", None),
    pycares.errno.ARES_ECONNREFUSED: ("refused", None),
    pycares.errno.ARES_EBADRESP: ("protocol_error", None),
}


def _answer_text(record: pycares.DNSRecord) -> str:
    data = record.data
    for attr in ("addr", "cname"):
        if hasattr(data, attr):
            return str(getattr(data, attr))
    if isinstance(data, pycares.TXTRecordData):
        return data.data.decode("utf-8", "replace")
    return str(data)


async def dns_probe(
    name: str,
    server: str,
    *,
    record_type: str = "A",
    timeout_s: float = 2.0,
    labels: dict[str, str] | None = None,
) -> ProbeResult:
    """Ask ``server`` (ADDR[:PORT], [V6]:PORT) for ``name``; one try, no retries."""
    host, port = parse_host_port(server, default_port=53)
    nameserver = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    target = f"{name}@{nameserver}"
    labels = labels or {}
    stamp = time.time_ns()
    resolver = aiodns.DNSResolver(nameservers=[nameserver], timeout=timeout_s, tries=1)
    t0 = time.monotonic_ns()
    try:
        result = await resolver.query_dns(name, record_type)
    except aiodns.error.DNSError as exc:
        elapsed = (time.monotonic_ns() - t0) / 1e6
        code = exc.args[0] if exc.args else -1
        status, rcode = _ARES.get(code, ("protocol_error", None))
        message = exc.args[1] if len(exc.args) > 1 else str(exc)
        if status == "timeout":
            message = f"no answer within {timeout_s:g} s"
        phases = {"query": elapsed} if rcode is not None else {}
        return ProbeResult(
            "dns",
            target,
            host,
            stamp,
            status,
            "" if status == "ok" else (f"{rcode}: {message}" if rcode else message),
            phases_ms=phases,
            dns_rcode=rcode,
            labels=labels,
        )
    finally:
        await resolver.close()
    elapsed = (time.monotonic_ns() - t0) / 1e6
    answers = tuple(_answer_text(r) for r in result.answer)
    return ProbeResult(
        "dns",
        target,
        host,
        stamp,
        "ok",
        phases_ms={"query": elapsed},
        dns_rcode="NOERROR",
        dns_answers=answers,
        labels=labels,
    )


@dataclass(frozen=True, slots=True)
class DnsSettings:
    """``[probe]`` keys dns_port, dns_name, dns_type, dns_interval_s (default: interval_s)."""

    dns_port: int = 53
    dns_name: str = "shantou.cablewatch.lab"
    dns_type: str = "A"
    interval_s: float = DEFAULT_INTERVAL_S
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_table(cls, t: Table, common: CommonProbe) -> DnsSettings:
        v = t.read(dns_port=Int(1, 65535), dns_name=Str(), dns_interval_s=Num(low=0.01),
                   dns_type=Str(("A", "AAAA", "TXT", "CNAME")))  # fmt: skip
        return common.settings(cls, v, "dns_interval_s")


async def _run(_ctx: ProbeContext, address: str, s: DnsSettings, labels: dict[str, str]) -> Any:
    server = host_port(address, s.dns_port)
    return await dns_probe(s.dns_name, server, record_type=s.dns_type, timeout_s=s.timeout_s,
                           labels=labels)  # fmt: skip


def _points(result: ProbeResult) -> list[Point]:
    fields = common_fields(result) | {
        "query_ms": result.phases_ms.get("query"),
        "rcode": result.dns_rcode,
        "answers": len(result.dns_answers),
    }
    return [Point("dns", fields)]


SPEC = ProbeSpec(
    protocol="dns",
    settings=DnsSettings.from_table,
    run=_run,
    points=_points,
    columns=(
        Column("query ms", lambda r: ms_cell(r.phases_ms.get("query"))),
        Column("rcode", lambda r: r.dns_rcode or "-", right=False),
        Column("answers", lambda r: " ".join(r.dns_answers) or "-", right=False),
        Column("error", lambda r: r.error, right=False),
    ),
)
