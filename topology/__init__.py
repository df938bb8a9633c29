"""The domain: the landing station, its cables, the regions it serves, and fibre physics.

Imports nothing of cablewatch but ``errors`` (and its own ``physics``); the configuration file
that describes a topology is read by :mod:`cablewatch.config`.
"""

from __future__ import annotations

from cablewatch.topology.model import (
    Cable,
    CablePath,
    LandingPoint,
    LandingStation,
    Region,
    Target,
    Topology,
)

__all__ = ["Cable", "CablePath", "LandingPoint", "LandingStation", "Region", "Target", "Topology"]
