"""The probe registry: protocol name -> its :class:`~cablewatch.probes.spec.ProbeSpec`.

The one place that knows which protocols exist. Everything that differs by protocol (running
a probe, its settings, its stored points, its CLI columns) is looked up here; nothing else
branches on a protocol's name.
"""

from __future__ import annotations

from collections.abc import Mapping

from cablewatch.errors import CablewatchError
from cablewatch.probes import dns, http, icmp, stamp, tcp, traceroute, ttft
from cablewatch.probes.spec import ProbeSpec

__all__ = ["PROBES", "PROTOCOLS", "spec"]

PROBES: Mapping[str, ProbeSpec] = {
    s.protocol: s
    for s in (icmp.SPEC, tcp.SPEC, http.SPEC, dns.SPEC, traceroute.SPEC, ttft.SPEC, stamp.SPEC)
}
PROTOCOLS: tuple[str, ...] = tuple(PROBES)


def spec(protocol: str) -> ProbeSpec:
    try:
        return PROBES[protocol]
    except KeyError:
        raise CablewatchError(
            f"unknown probe protocol {protocol!r} (known: {', '.join(PROTOCOLS)})"
        ) from None
