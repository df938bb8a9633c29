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
event          a fault event (cablewatch evaluate), tags scope, subject, cable, region,
               landing_station; fields event_id, state (open / resolved), raised_unix_s,
               resolved_unix_s, duration_s, paths, regions, evidence (JSON). Stamped with the
               event's start (its first bad round); resolving rewrites the same point.
sla            SLA status per customer, region and cable ('any': the region on its best
               cable), stamped when evaluated: availability_pct, good/bad/nodata_minutes,
               budget_left_pct, burn_<window>, rtt_p95_ms, loss_pct, compliant
recommendation a new failover recommendation, tags region, cable, previous, kind; fields
               version, reason, score_ms, scores (JSON: every cable's score)
=============  =======================================================================

Tags on every probe point: region, host (the probe host), cable, target, landing_station, protocol.
A round's timestamp is its start (wall clock, ns); packet i of a round is stamped start + i ns
so that every packet is its own point. The same result always gives the same lines: replays
overwrite themselves in InfluxDB instead of counting twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from cablewatch.correlation.events import Event
from cablewatch.failover.engine import Recommendation
from cablewatch.probes.result import ProbeResult
from cablewatch.sla.evaluate import SlaStatus

__all__ = [
    "escape_key",
    "escape_measurement",
    "escape_string",
    "event_line",
    "line",
    "recommendation_line",
    "result_lines",
    "sla_line",
]

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


def event_line(event: Event, station: str, start_s: float, evidence: str) -> str:
    end = event.resolved_s
    fields: dict[str, FieldValue | None] = {
        "event_id": event.id,
        "state": "resolved" if end is not None else "open",
        "raised_unix_s": event.raised_s,
        "resolved_unix_s": end,
        "duration_s": None if end is None else max(0.0, end - start_s),
        "paths": len(event.seen_paths),
        "regions": ",".join(sorted({r for r, _c in event.seen_paths})),
        "evidence": evidence,
    }
    tags = {
        "scope": event.scope,
        "subject": event.subject,
        "cable": event.cable,
        "region": event.region,
        "landing_station": station,
    }
    return line("event", tags, fields, int(start_s * 1e9))


def sla_line(status: SlaStatus, when_s: float) -> str:
    fields: dict[str, FieldValue | None] = {
        "availability_pct": status.availability_pct,
        "good_minutes": status.good_minutes,
        "bad_minutes": status.bad_minutes,
        "nodata_minutes": status.nodata_minutes,
        "budget_left_pct": status.budget_left_pct,
        "rtt_p95_ms": status.rtt_p95_ms,
        "loss_pct": status.loss_pct,
        "compliant": status.compliant,
    }
    fields |= {f"burn_{w}": v for w, v in status.burn_rates.items()}
    tags = {"customer": status.customer, "region": status.region, "cable": status.cable}
    return line("sla", tags, fields, int(when_s * 1e9))


def recommendation_line(rec: Recommendation, version: int) -> str:
    mine = next((x.score_ms for x in rec.scores if x.cable == rec.cable), None)
    scores = {x.cable: x.score_ms for x in rec.scores}
    tags = {"region": rec.region, "cable": rec.cable, "previous": rec.previous or "",
            "kind": rec.kind}  # fmt: skip
    fields: dict[str, FieldValue | None] = {
        "version": version,
        "reason": rec.reason,
        "score_ms": mine,
        "scores": json.dumps(scores, sort_keys=True),
    }
    return line("recommendation", tags, fields, int(rec.since_s * 1e9))
