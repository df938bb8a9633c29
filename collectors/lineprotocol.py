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

import functools
from collections.abc import Mapping

from cablewatch.probes.registry import spec
from cablewatch.probes.result import ProbeResult
from cablewatch.values import FieldValue

__all__ = [
    "BACKFILL",
    "backfill_line",
    "escape_key",
    "escape_measurement",
    "escape_string",
    "line",
    "result_lines",
    "round_start_ns",
]

_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})
_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})


@functools.lru_cache(maxsize=1 << 16)
def escape_key(text: str) -> str:
    """Tag keys, tag values, field keys (the same few recur in every round: cached)."""
    return text.replace("\\", "\\\\").translate(_KEY) if text else text


@functools.lru_cache(maxsize=1 << 16)
def _tag_part(tags: tuple[tuple[str, str], ...]) -> str:
    return "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in tags if v != "")


@functools.lru_cache(maxsize=256)
def escape_measurement(text: str) -> str:
    return text.replace("\\", "\\\\").translate(_MEASUREMENT)


def escape_string(text: str) -> str:
    """A string field value, quoted."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _field(value: FieldValue) -> str:
    kind = type(value)  # exact types first: the common case without an isinstance chain
    if kind is float:
        return repr(value)
    if kind is int:
        return f"{value}i"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{int(value)}i"
    if isinstance(value, float):
        return repr(float(value))
    return escape_string(value)


@functools.lru_cache(maxsize=1 << 12)
def _field_key(key: str) -> str:
    """A field key, escaped, with its '=' (a round's dozen keys are the same every round)."""
    return escape_key(key) + "="


def line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue | None],
    timestamp_ns: int,
) -> str:
    """One point. Empty tag values and None fields are left out (InfluxDB rejects them)."""
    return _line(measurement, _tag_part(tuple(sorted(tags.items()))), fields, timestamp_ns)


_FIELD_KEYS: dict[str, str] = {}
"""Field keys escaped, with their '=' (a round's dozen keys are the same every round)."""


def _line(
    measurement: str, tag_part: str, fields: Mapping[str, FieldValue | None], timestamp_ns: int
) -> str:
    # The agent's hottest Python (six points a round): the common types inline, keys looked
    # up in a plain dict (bench/round_cost.py: 24-27 us a round before).
    keys = _FIELD_KEYS
    parts = []
    for k, v in fields.items():
        kind = type(v)
        if kind is float:
            text = repr(v)
        elif kind is int:
            text = f"{v}i"
        elif v is None:
            continue
        else:
            text = _field(v)
        key = keys.get(k)
        if key is None:
            key = keys[k] = _field_key(k)
        parts.append(key + text)
    if not parts:
        raise ValueError(f"a point of {measurement!r} needs at least one field")
    return f"{escape_measurement(measurement)}{tag_part} {','.join(parts)} {timestamp_ns}"


def result_lines(result: ProbeResult, host: str) -> list[str]:
    """The points of one probe result (its protocol's spec says which), with the probe tags."""
    labels = result.labels
    tags = (  # sorted by key, as line() sorts them
        ("cable", labels.get("cable", "")),
        ("host", host),
        ("landing_station", labels.get("landing_station", "")),
        ("path", labels.get("path", "")),
        ("protocol", result.protocol),
        ("region", labels.get("region", "")),
        ("target", result.address or result.target),
    )
    tag_part = _tag_part(tags)  # once per result: every point of a round has the same tags
    ts = result.timestamp_ns
    return [_line(p.measurement, tag_part, p.fields, ts + p.offset_ns)
            for p in spec(result.protocol).points(result)]  # fmt: skip


BACKFILL = "backfill"
"""An agent's note that it stored rounds late (after an outage): the span they cover, so that
the evaluator rolls those minutes up again (collectors/read/minutes.py)."""


def round_start_ns(chunk: str) -> int:
    """The timestamp of a spooled round (its lines, the round's point first)."""
    end = chunk.find("\n")
    first = chunk if end < 0 else chunk[:end]
    return int(first.rsplit(" ", 1)[1])


def backfill_line(tags: Mapping[str, str], from_ns: int, until_ns: int, rounds: int,
                  now_ns: int) -> str:  # fmt: skip
    """Rounds in [from_ns, until_ns) were stored late, ``rounds`` of them, just now."""
    return line(BACKFILL, tags, {"from_ns": from_ns, "until_ns": until_ns, "rounds": rounds},
                now_ns)  # fmt: skip
