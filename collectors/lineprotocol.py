"""InfluxDB line protocol: escaping and the cablewatch schema (pure functions).

Escaping (https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/):
measurement names escape commas and spaces; tag keys, tag values and field keys escape commas,
equals signs and spaces; string field values are double-quoted with backslashes and double
quotes escaped. Unicode passes through as UTF-8. Integers carry an ``i`` suffix, booleans are
``true``/``false``, floats are written in full precision (repr).

Schema (one point per probe round, per-packet RTTs apart):

=============  =======================================================================
measurement    fields
=============  =======================================================================
ping           Telegraf's: packets_transmitted, packets_received, percent_packet_loss,
               minimum_response_ms, average_response_ms, maximum_response_ms,
               standard_deviation_ms, ttl, result_code; ours: median_response_ms,
               jitter_ms (RFC 3550), ipdv_ms, status
ping_rtt       rtt_ms (one point per received packet; lost packets have none), seq
tcp            connect_ms, status, result_code
http           dns_ms, connect_ms, tls_ms, first_byte_ms, transfer_ms, total_ms,
               http_status, status, result_code
dns            query_ms, rcode, answers, status, result_code
=============  =======================================================================

Tags on every point: region, host (the probe host), cable, target, landing_station, protocol.
A round's timestamp is its start (wall clock, ns); packet i of a round is stamped start + i ns
so that every packet is its own point. The same result always gives the same lines: replays
overwrite themselves in InfluxDB instead of counting twice.
"""

from __future__ import annotations

from collections.abc import Mapping

from cablewatch.probes.result import ProbeResult

__all__ = ["escape_key", "escape_measurement", "escape_string", "line", "result_lines"]

FieldValue = float | int | bool | str

_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})
_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})


def escape_key(text: str) -> str:
    """Tag keys, tag values, field keys."""
    return text.replace("\\", "\\\\").translate(_KEY) if text else text


def escape_measurement(text: str) -> str:
    return text.replace("\\", "\\\\").translate(_MEASUREMENT)


def escape_string(text: str) -> str:
    """A string field value, quoted."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _field(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return escape_string(value)


def line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue | None],
    timestamp_ns: int,
) -> str:
    """One point. Empty tag values and None fields are left out (InfluxDB rejects them)."""
    tag_part = "".join(
        f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items()) if v != ""
    )
    field_part = ",".join(
        f"{escape_key(k)}={_field(v)}" for k, v in fields.items() if v is not None
    )
    if not field_part:
        raise ValueError(f"a point of {measurement!r} needs at least one field")
    return f"{escape_measurement(measurement)}{tag_part} {field_part} {timestamp_ns}"


def result_lines(result: ProbeResult, host: str) -> list[str]:
    """The points of one probe result."""
    tags = {
        "region": result.labels.get("region", ""),
        "cable": result.labels.get("cable", ""),
        "landing_station": result.labels.get("landing_station", ""),
        "host": host,
        "target": result.address or result.target,
        "protocol": result.protocol,
    }
    ts = result.timestamp_ns
    common: dict[str, FieldValue | None] = {
        "status": result.status,
        "result_code": result.result_code,
    }
    phases = result.phases_ms
    if result.protocol == "icmp":
        s = result.summary
        fields: dict[str, FieldValue | None] = dict(common)
        if s is not None:
            fields |= {
                "packets_transmitted": s.sent,
                "packets_received": s.received,
                "percent_packet_loss": float(s.loss_pct),
                "minimum_response_ms": s.min_ms,
                "average_response_ms": s.avg_ms,
                "maximum_response_ms": s.max_ms,
                "standard_deviation_ms": s.stddev_ms,
                "median_response_ms": s.median_ms,
                "jitter_ms": s.jitter_ms,
                "ipdv_ms": s.ipdv_ms,
                "ttl": result.ttl,
            }
        lines = [line("ping", tags, fields, ts)]
        lines += [
            line("ping_rtt", tags, {"rtt_ms": rtt, "seq": i}, ts + i)
            for i, rtt in enumerate(result.rtts_ms)
            if rtt is not None
        ]
        return lines
    if result.protocol == "tcp":
        return [line("tcp", tags, common | {"connect_ms": phases.get("connect")}, ts)]
    if result.protocol == "http":
        fields = common | {f"{p}_ms": v for p, v in phases.items()}
        fields["http_status"] = result.http_status
        return [line("http", tags, fields, ts)]
    fields = common | {
        "query_ms": phases.get("query"),
        "rcode": result.dns_rcode,
        "answers": len(result.dns_answers),
    }
    return [line("dns", tags, fields, ts)]
