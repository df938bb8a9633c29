"""The one result model every probe returns. Probes return results; they write nowhere."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cablewatch.probes.stats import RttSummary

__all__ = ["ProbeResult", "Status"]

Status = Literal[
    "ok",  # the target answered (ICMP: at least one reply; loss is in the summary)
    "loss",  # ICMP: every packet of the round was lost
    "timeout",  # no answer within the timeout (TCP, HTTP, DNS)
    "refused",  # connection refused (TCP, HTTP)
    "unreachable",  # no route, host or network unreachable
    "resolve_error",  # the target's name did not resolve
    "tls_error",  # TLS handshake failed
    "protocol_error",  # the peer answered, but not with a valid response
    "bad_status",  # HTTP status outside 2xx/3xx, DNS rcode other than NOERROR
]

# Telegraf's ping plugin: 0 success (including loss), 1 no such host, 2 probe error.
_TELEGRAF_RESULT_CODE: dict[str, int] = {"ok": 0, "loss": 0, "resolve_error": 1}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    protocol: str
    """A registered protocol (cablewatch.probes.registry)."""
    target: str
    """The target as given: host, host:port, URL, or name@server."""
    address: str
    """The IP address probed ('' if the name did not resolve)."""
    timestamp_ns: int
    """Wall-clock start of the probe, ns since the epoch: for storage, never for durations."""
    status: Status
    error: str = ""
    rtts_ms: tuple[float | None, ...] = ()
    """ICMP: RTT of each packet of the round in sending order; None = lost."""
    summary: RttSummary | None = None
    ttl: int | None = None
    """TTL / hop limit of the last reply received."""
    phases_ms: Mapping[str, float] = field(default_factory=dict)
    """Durations of the probe's phases: dns, connect, tls, first_byte, total, query."""
    http_status: int | None = None
    dns_rcode: str | None = None
    dns_answers: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    """Where the probe was aimed from and over: region, cable, landing_station."""

    @property
    def success(self) -> bool:
        return self.status == "ok"

    @property
    def result_code(self) -> int:
        """Telegraf ping plugin's result_code."""
        return _TELEGRAF_RESULT_CODE.get(self.status, 2)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: our fields, the round summary, and Telegraf's ping field names."""
        out: dict[str, Any] = {
            "protocol": self.protocol,
            "target": self.target,
            "address": self.address,
            "timestamp_ns": self.timestamp_ns,
            "status": self.status,
            "success": self.success,
            "result_code": self.result_code,
        }
        if self.error:
            out["error"] = self.error
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.summary is not None:  # a round of packets (ICMP)
            out["rtts_ms"] = list(self.rtts_ms)
            out["ttl"] = self.ttl
            out |= self.summary.fields()
        if self.phases_ms:
            out["phases_ms"] = dict(self.phases_ms)
        if self.http_status is not None:
            out["http_status"] = self.http_status
        if self.dns_rcode is not None:
            out["dns_rcode"] = self.dns_rcode
            out["dns_answers"] = list(self.dns_answers)
        return out
