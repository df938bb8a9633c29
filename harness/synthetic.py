"""A synthetic deployment for scale benches and tests: one landing station, three cables, N
regions with a path over each, and the ICMP rounds an agent would write for them."""

from __future__ import annotations

from pathlib import Path

from cablewatch.collectors.lineprotocol import line

__all__ = ["CABLES", "floor_ms", "region_id", "round_line", "round_lines", "write_config"]

CABLES = ("ADC", "SJC", "APCN-2")


def region_id(i: int) -> str:
    return f"r{i:05d}"


def floor_ms(i: int, k: int) -> float:
    """Region ``i``'s one-way delay over cable ``k`` (30-52 ms)."""
    return float(30 + i % 17 + k * 3)


def write_config(path: Path, influx_url: str, database: str, regions: int, warm: int, *,
                 sla: bool = False) -> Path:  # fmt: skip
    """1 s rounds of 5 packets; ``warm``: the detectors' baseline rounds; ``sla``: one policy
    over every region."""
    parts = [
        '[landing_station]\nid = "shantou"\nname = "Shantou"\nlat = 23.37\nlon = 116.69\n',
        "[probe]\ninterval_s = 1.0\npackets = 5\npacket_interval_s = 0.05\ntimeout_s = 0.5\n",
        f"[detection]\nbaseline_rounds = {warm}\n",
        f'[sinks.influxdb]\nurl = "{influx_url}"\ndatabase = "{database}"\n',
    ]
    for cable in CABLES:
        parts.append(f'[[cables]]\nname = "{cable}"\nlength_km = 9000\nlanding_points = '
                     '[{ name = "Tuas", country = "SG", lat = 1.32, lon = 103.65 }]\n')  # fmt: skip
    for i in range(regions):
        paths = ", ".join(f'"{c}" = {{ one_way_ms = {floor_ms(i, k):g} }}'
                          for k, c in enumerate(CABLES))  # fmt: skip
        parts.append(f'[[regions]]\nid = "{region_id(i)}"\nname = "R{i}"\nlat = 1.3\n'
                     f"lon = 103.8\npaths = {{ {paths} }}\n")  # fmt: skip
    for k, cable in enumerate(CABLES):
        parts.append(f'[[targets]]\ncable = "{cable}"\naddress = "198.19.{k}.1"\n'
                     'protocols = ["icmp"]\n')  # fmt: skip
    if sla:
        names = ", ".join(f'"{region_id(i)}"' for i in range(regions))
        parts.append(f'[[sla]]\ncustomer = "all"\nregions = [{names}]\navailability_pct = 99.5\n'
                     "rtt_p95_ms = 150.0\nloss_pct = 1.0\nbad_minute_loss_pct = 5.0\n"
                     "bad_minute_rtt_ms = 200.0\n")  # fmt: skip
    path.write_text("\n".join(parts))
    return path


def round_line(i: int, k: int, t_s: float, *, received: int = 5, extra_ms: float = 0.0) -> str:
    """Region ``i``'s ICMP round over cable ``k`` that started at ``t_s``: 5 packets,
    ``received`` of them answered, the RTT twice the floor plus a little wander."""
    rtt = 2 * floor_ms(i, k) + 0.2 + 0.05 * (int(t_s) % 5) + extra_ms
    return line("ping", {"region": region_id(i), "cable": CABLES[k], "protocol": "icmp",
                         "landing_station": "shantou"},
                {"packets_transmitted": 5, "packets_received": received,
                 "median_response_ms": rtt if received else None,
                 "minimum_response_ms": rtt - 0.1 if received else None,
                 "jitter_ms": 0.1 if received else None},
                int(t_s * 1e9))  # fmt: skip


def round_lines(regions: int, t_s: float) -> list[str]:
    """Every path's round that started at ``t_s``, all well."""
    return [round_line(i, k, t_s) for i in range(regions) for k in range(len(CABLES))]
