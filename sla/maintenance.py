"""Maintenance windows (``[[maintenance]]``): announced work whose minutes an SLA excludes.

A window covers one cable (every path over it), one region (every path from it) or the whole
landing station, from ``start`` to ``end`` (TOML date-times with an offset). A minute lies in a
window when any part of it does: such a minute is **excluded**, neither good nor bad nor no
data, and every report lists the window with its reason.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from cablewatch.schema import Table
from cablewatch.topology.model import normalise_name

__all__ = ["MaintenanceWindow", "excluded"]


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    start_s: float
    end_s: float
    reason: str
    cable: str | None = None
    region: str | None = None
    """Neither cable nor region: the whole landing station."""

    @property
    def scope(self) -> str:
        if self.cable is not None:
            return f"cable {self.cable}"
        if self.region is not None:
            return f"region {self.region}"
        return "landing station"

    def covers(self, region: str, cable: str | None, minute_s: int) -> bool:
        """Does the window exclude ``minute_s`` of (region, cable)? ``cable`` None asks about
        the region as a whole (a cable's window does not exclude the region's minute)."""
        if not (minute_s + 60 > self.start_s and minute_s < self.end_s):
            return False
        if self.region is not None:
            return self.region == region
        if self.cable is not None:
            return cable is not None and self.cable == cable
        return True

    @classmethod
    def from_table(
        cls, t: Table, cables: dict[str, str], regions: Collection[str], station: str
    ) -> MaintenanceWindow | None:
        """``cables`` maps normalised names to names, as the SLA policies match them."""
        cable = t.string("cable", required=False)
        region = t.string("region", required=False)
        at_station = t.string("station", required=False)
        reason = t.name("reason")
        start, end = t.moment("start"), t.moment("end")
        t.finish()
        given = [k for k, v in (("cable", cable), ("region", region), ("station", at_station))
                 if v is not None]  # fmt: skip
        if len(given) != 1:
            t.problem("", "give exactly one of cable, region or station (what the work "
                      f"covers); got {', '.join(given) or 'none'}")  # fmt: skip
            return None
        if cable is not None and normalise_name(cable) not in cables:
            t.problem("cable", f"unknown cable {cable!r} (known: {', '.join(cables.values())})")
            return None
        if region is not None and region not in regions:
            t.problem("region", f"unknown region {region!r} (known: {', '.join(regions)})")
            return None
        if at_station is not None and at_station != station:
            t.problem("station", f"got {at_station!r}, expected the landing station {station!r}")
            return None
        if start is None or end is None or reason is None:
            return None
        if end <= start:
            t.problem("end", "the window ends before it starts")
            return None
        name = cables[normalise_name(cable)] if cable is not None else None
        return cls(start, end, reason, name, region)


def excluded(
    windows: Iterable[MaintenanceWindow], region: str, cable: str | None, minute_s: int
) -> bool:
    return any(w.covers(region, cable, minute_s) for w in windows)
