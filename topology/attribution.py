"""Which cable a traced path took, and where its wet segment is (pure: the topology and the
hops in, the answer out).

Each cable names what identifies it on a path: prefixes of its routers' addresses
(``hop_prefixes``) and patterns of their reverse names (``hop_names``). A hop that matches one
cable is on it; a path is on the one cable its hops match. No match, or hops of two cables, is
"unknown": a route that leaves the topology is not guessed at.

The wet segment is the hop pair across the ocean: of the consecutive answering hops (the probe
host itself is hop 0 at 0 ms), the pair whose jump in minimum RTT is largest, provided that jump
is at least half the region's floor over the cable. The minimum, because queueing only adds.

The way back has no hops to read (a traceroute sees the forward path only); a one-way delay
does: the replies of a path out over cable A took the cable B whose one-way floor the reverse
delay fits, the land around the ocean being the same both ways (a region's backhaul and the
station's add the same to each direction):

    expected reverse over B = forward - floor(A) + floor(B)     (minimum delays, ms)

The return is B when the reverse minimum lies within ``fit_ms`` of B's expectation and of no
other cable's. Where it fits several and one is the way out (floors too close to tell apart:
Tokyo's SJC and APCN-2 are both 17.4 ms), it is the way out: symmetric unless the delay says
otherwise. Otherwise unknown (between two other cables, or fitting none: a route off the
topology). Minimums again: queueing only adds.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cablewatch.topology.model import Cable, Region, Topology

__all__ = [
    "UNKNOWN",
    "Attribution",
    "HopSeen",
    "ReturnFit",
    "attribute",
    "hop_cable",
    "return_cable",
]

UNKNOWN = "unknown"
_WET_SHARE = 0.5
"""A jump below this share of the floor is not the ocean."""

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class HopSeen:
    ttl: int
    address: str
    name: str
    min_rtt_ms: float | None


@dataclass(frozen=True, slots=True)
class Attribution:
    cable: str
    """The cable, or UNKNOWN."""
    reason: str
    hop_cables: tuple[str, ...]
    """Per hop, in order: the cable it matched ('' none)."""
    wet: tuple[int, int] | None = None
    wet_jump_ms: float | None = None


def _networks(cable: Cable) -> list[_Network]:
    return [ipaddress.ip_network(p) for p in cable.hop_prefixes]


def hop_cable(cables: Sequence[Cable], address: str, name: str) -> list[str]:
    """The cables whose prefixes hold ``address`` or whose name patterns match ``name``."""
    try:
        ip = ipaddress.ip_address(address) if address else None
    except ValueError:
        ip = None
    lowered = name.lower().rstrip(".")
    found: list[str] = []
    for cable in cables:
        by_prefix = ip is not None and any(ip in net for net in _networks(cable))
        by_name = bool(lowered) and any(
            fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in cable.hop_names
        )
        if by_prefix or by_name:
            found.append(cable.name)
    return found


def attribute(topology: Topology, region: str, hops: Sequence[HopSeen]) -> Attribution:
    """The cable ``hops`` (a trace from ``region``) took, and its wet segment."""
    per_hop = [hop_cable(topology.cables, h.address, h.name) for h in hops]
    hop_cables = tuple(found[0] if len(found) == 1 else "" for found in per_hop)
    seen = sorted({c for found in per_hop for c in found})
    if not seen:
        return Attribution(UNKNOWN, "no hop matches any cable's hop_prefixes or hop_names",
                           hop_cables)  # fmt: skip
    if len(seen) > 1:
        return Attribution(UNKNOWN, f"hops match several cables: {', '.join(seen)}", hop_cables)
    cable = seen[0]
    matched = [h for h, c in zip(hops, hop_cables, strict=True) if c == cable]
    reason = "hop " + ", ".join(f"{h.ttl} ({h.name or h.address})" for h in matched)
    path = next((r.paths.get(cable) for r in topology.regions if r.id == region), None)
    if path is None:
        return Attribution(cable, reason, hop_cables)
    wet, jump = wet_segment(hops, path.floor_rtt_ms)
    return Attribution(cable, reason, hop_cables, wet, jump)


def wet_segment(
    hops: Sequence[HopSeen], floor_rtt_ms: float
) -> tuple[tuple[int, int] | None, float | None]:
    """The (ttl, ttl) pair with the largest jump in minimum RTT, and the jump; (None, None)
    when no jump reaches half the floor."""
    best: tuple[tuple[int, int], float] | None = None
    prev_ttl, prev_ms = 0, 0.0
    for h in hops:
        if h.min_rtt_ms is None:
            continue
        jump = h.min_rtt_ms - prev_ms
        if best is None or jump > best[1]:
            best = ((prev_ttl, h.ttl), jump)
        prev_ttl, prev_ms = h.ttl, h.min_rtt_ms
    if best is None or best[1] < _WET_SHARE * floor_rtt_ms:
        return None, None
    return best[0], round(best[1], 3)


@dataclass(frozen=True, slots=True)
class ReturnFit:
    cable: str
    """The cable the replies came back over, or UNKNOWN."""
    reason: str
    residual_ms: float | None = None
    """Reverse minimum minus the expectation over ``cable`` (None: unknown)."""


def return_cable(region: Region, out_cable: str, forward_min_ms: float, reverse_min_ms: float,
                 *, fit_ms: float = 0.25) -> ReturnFit:  # fmt: skip
    """The cable a path's replies took (see the module): ``region``'s path out over
    ``out_cable``, its forward and reverse minimum one-way delays."""
    out_path = region.paths.get(out_cable)
    if out_path is None:
        return ReturnFit(UNKNOWN, f"{region.id} has no path over {out_cable}")
    land_ms = forward_min_ms - out_path.one_way_ms
    expected = {cable: land_ms + p.one_way_ms for cable, p in region.paths.items()}
    fits = sorted((abs(reverse_min_ms - ms), cable) for cable, ms in expected.items())
    (best, cable), others = fits[0], fits[1:]
    seen = f"reverse {reverse_min_ms:.2f} ms"
    if best > fit_ms:
        return ReturnFit(UNKNOWN, f"{seen} fits no cable within {fit_ms:g} ms (nearest: "
                         f"{cable}, {expected[cable]:.2f} ms)")  # fmt: skip
    if others and others[0][0] <= fit_ms:
        both = f"{seen} fits {cable} ({expected[cable]:.2f} ms) and {others[0][1]} " + (
            f"({expected[others[0][1]]:.2f} ms)")  # fmt: skip
        tied = {cable, *(c for d, c in others if d <= fit_ms)}
        if out_cable not in tied:
            return ReturnFit(UNKNOWN, both)
        # floors too close to tell: back the way it went out, unless the delay says otherwise
        residual = round(reverse_min_ms - expected[out_cable], 3)
        return ReturnFit(out_cable, f"{both}: the way out assumed", residual)
    residual = round(reverse_min_ms - expected[cable], 3)
    return ReturnFit(cable, f"{seen}, over {cable} {expected[cable]:.2f} ms", residual)
