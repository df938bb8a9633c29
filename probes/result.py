"""The one result model every probe returns. Probes return results; they write nowhere."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cablewatch.probes.stats import RttSummary

__all__ = ["Hop", "OneWay", "ProbeResult", "Status", "Trace"]

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
class Hop:
    """One TTL of a traced path: who answered and how fast."""

    ttl: int
    address: str
    """The router (or the destination) that answered; '' when none did."""
    rtts_ms: tuple[float | None, ...]
    """Each probe at this TTL, in sending order; None = no answer within the timeout."""
    name: str = ""
    """The address's reverse name ('' none)."""
    others: tuple[str, ...] = ()
    """Other addresses that answered at this TTL (a path that is not one path)."""
    flag: str = ""
    """traceroute's marks: '!H' host, '!N' network, '!P' protocol, '!X' prohibited."""
    cable: str = ""
    """The cable this hop belongs to by the topology's hop prefixes / names ('' none)."""

    @property
    def received(self) -> list[float]:
        return [r for r in self.rtts_ms if r is not None]

    @property
    def min_ms(self) -> float | None:
        got = self.received
        return min(got) if got else None

    @property
    def loss_pct(self) -> float:
        return 100.0 * (1 - len(self.received) / len(self.rtts_ms)) if self.rtts_ms else 0.0


@dataclass(frozen=True, slots=True)
class Trace:
    """A traced path (Paris-style: one flow identifier for every probe) and which cable it
    took."""

    mode: str
    """'icmp' or 'udp'."""
    hops: tuple[Hop, ...]
    reached: bool
    """The destination itself answered."""
    cable: str = ""
    """The cable the path took by its hops ('unknown': none or several matched; '' not
    attributed: no topology)."""
    wet: tuple[int, int] | None = None
    """The TTLs of the wet segment's ends: the hop pair whose RTT jump is the cable's."""
    wet_jump_ms: float | None = None

    @property
    def sequence(self) -> str:
        """The hop addresses in order ('*' for a silent hop): what a route change changes."""
        return " ".join(h.address or "*" for h in self.hops)


@dataclass(frozen=True, slots=True)
class OneWay:
    """STAMP: each packet's delay each way (None: no reply), loss per direction, the clocks."""

    forward_ms: tuple[float | None, ...]
    reverse_ms: tuple[float | None, ...]
    lost_forward: int = 0
    lost_reverse: int = 0
    lost_unknown: int = 0
    """Lost after the last packet answered: the direction cannot be told."""
    error_bound_ms: float | None = None
    """Both ends' clock error estimates, summed (None: no reply)."""
    synchronized: bool = False
    foreign: int = 0
    """Replies that were not the round's (another session, truncated): never measured."""
    trusted: bool | None = None
    """The clocks' bound is small against the path's one-way floor (``stamp_max_error_pct``):
    the one-way figures may judge a fault; False: stored, flagged, never judged on; None: no
    floor to judge against (a target outside the topology)."""
    return_cable: str | None = None
    """The cable the replies came back over, from the reverse delay (topology/attribution.py:
    return_cable), or "unknown"; None: not attributed (no topology, or figures not trusted)."""
    return_reason: str = ""


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
    trace: Trace | None = None
    """Traceroute: the hops, and the cable they show."""
    tokens: int | None = None
    """Time to first token: the tokens streamed."""
    oneway: OneWay | None = None
    """STAMP: one-way delays and loss per direction (``rtts_ms``: the round trips)."""

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
        if self.trace is not None:
            out["trace"] = _trace_dict(self.trace)
        if self.tokens is not None:
            out["tokens"] = self.tokens
        if self.oneway is not None:
            ow = self.oneway
            out["oneway"] = {"forward_ms": list(ow.forward_ms), "reverse_ms": list(ow.reverse_ms),
                             "lost_forward": ow.lost_forward, "lost_reverse": ow.lost_reverse,
                             "lost_unknown": ow.lost_unknown, "foreign": ow.foreign,
                             "error_bound_ms": ow.error_bound_ms,
                             "synchronized": ow.synchronized, "trusted": ow.trusted,
                             "return_cable": ow.return_cable,
                             "return_reason": ow.return_reason}  # fmt: skip
        if self.dns_rcode is not None:
            out["dns_rcode"] = self.dns_rcode
            out["dns_answers"] = list(self.dns_answers)
        return out


def _trace_dict(trace: Trace) -> dict[str, Any]:
    return {
        "mode": trace.mode,
        "reached": trace.reached,
        "cable": trace.cable,
        "wet": list(trace.wet) if trace.wet else None,
        "wet_jump_ms": trace.wet_jump_ms,
        "hops": [
            {
                "ttl": h.ttl,
                "address": h.address,
                "name": h.name,
                "rtts_ms": list(h.rtts_ms),
                "loss_pct": h.loss_pct,
                "others": list(h.others),
                "flag": h.flag,
                "cable": h.cable,
                "wet": trace.wet is not None and h.ttl in trace.wet,
            }
            for h in trace.hops
        ],
    }
