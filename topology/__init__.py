"""The landing station, its cables, the regions it serves: model, physics and configuration."""

from __future__ import annotations

from cablewatch.topology.config import default_path, load, load_default
from cablewatch.topology.model import Cable, Path, Region, Target, Topology

__all__ = ["Cable", "Path", "Region", "Target", "Topology", "default_path", "load", "load_default"]
