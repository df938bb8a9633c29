"""cablewatch: watches the latency of submarine cable routes, one cable at a time."""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
