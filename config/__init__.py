"""The configuration: one TOML file read and validated at load time (config/loader.py) into a
:class:`Config`: the topology (cablewatch.topology) and every section's settings, each read
by its own settings class."""

from __future__ import annotations

from cablewatch.config.loader import default_path, load, load_default, parse
from cablewatch.config.model import Config

__all__ = ["Config", "default_path", "load", "load_default", "parse"]
