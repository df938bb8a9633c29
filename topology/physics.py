"""Propagation physics of fibre paths (pure functions).

Light in standard single-mode fibre travels at c / 1.468, about 204,000 km/s: 4.9 microseconds
per km one way. A path's RTT can never beat ``2 x length_km x 4.9 us`` (its *floor*); measured RTT
divided by the floor is the path's *stretch*.
"""

from __future__ import annotations

import math

__all__ = [
    "EARTH_RADIUS_KM",
    "FIBRE_US_PER_KM",
    "floor_rtt_ms",
    "great_circle_km",
    "one_way_ms",
    "path_km_for_one_way_ms",
    "stretch",
]

FIBRE_US_PER_KM = 4.9
EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius


def one_way_ms(path_km: float) -> float:
    """One-way propagation delay of ``path_km`` of fibre, in milliseconds."""
    return path_km * FIBRE_US_PER_KM / 1000.0


def floor_rtt_ms(path_km: float) -> float:
    """Physics floor of the round-trip time over ``path_km`` of fibre: 2 x km x 4.9 us."""
    return 2.0 * one_way_ms(path_km)


def path_km_for_one_way_ms(delay_ms: float) -> float:
    """Fibre length whose one-way propagation delay is ``delay_ms``."""
    return delay_ms * 1000.0 / FIBRE_US_PER_KM


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine great-circle distance in km: a lower bound for any cable between two points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def stretch(rtt_ms: float, floor_ms: float) -> float:
    """Measured RTT over the physics floor (>= 1 for any real measurement)."""
    if floor_ms <= 0:
        raise ValueError(f"floor_ms must be > 0, got {floor_ms}")
    return rtt_ms / floor_ms
