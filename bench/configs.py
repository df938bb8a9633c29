"""Configurations the benchmarks write: a landing station, its cables, and Singapore with a
path over each; the targets follow, per benchmark."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["singapore_config"]


def singapore_config(
    cables: Sequence[str], *, packets: int, packet_interval_s: float, timeout_s: float
) -> str:
    """The TOML up to the targets: one round a second per target of ``packets`` ICMP packets."""
    parts = [
        '[landing_station]\nid = "shantou"\nname = "Shantou"\nlat = 23.37\nlon = 116.69\n',
        f"[probe]\ninterval_s = 1.0\npackets = {packets}\n"
        f"packet_interval_s = {packet_interval_s}\ntimeout_s = {timeout_s}\n",
    ]
    parts += [f'[[cables]]\nname = "{c}"\nlength_km = 9988\nlanding_points = '
              '[{ name = "Tuas", country = "SG", lat = 1.32, lon = 103.649 }]\n'
              for c in cables]  # fmt: skip
    paths = "\n".join(f'paths."{c}" = {{ one_way_ms = 17.1 }}' for c in cables)
    parts.append(f'[[regions]]\nid = "singapore"\nname = "Singapore"\nlat = 1.30\nlon = 103.80\n'
                 f"{paths}\n")  # fmt: skip
    return "\n".join(parts)
