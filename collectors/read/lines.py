"""Line protocol read back (the inverse of collectors/lineprotocol.py), for what reads the
bus's batches rather than InfluxDB: a point's measurement, tags, fields and time.

Escapes: a backslash makes the next character literal in measurement names, tag keys and
values and field keys (``\\n`` is a newline, as the writer escapes it); string fields are
double-quoted with ``\\"``, ``\\\\`` and ``\\n`` inside. Integers end in ``i``; ``true`` and
``false`` are booleans; anything else is a float.
"""

from __future__ import annotations

from dataclasses import dataclass

from cablewatch.values import FieldValue

__all__ = ["Point", "parse_line"]


@dataclass(frozen=True, slots=True)
class Point:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    time_ns: int


def _unescape_at(text: str, i: int) -> str:
    c = text[i]
    return "\n" if c == "n" else c


def _token(text: str, i: int, stops: str) -> tuple[str, int]:
    """Characters from ``i`` up to the first unescaped one of ``stops`` (or the end)."""
    out: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            out.append(_unescape_at(text, i + 1))
            i += 2
            continue
        if c in stops:
            break
        out.append(c)
        i += 1
    return "".join(out), i


def _value(text: str, i: int) -> tuple[FieldValue, int]:
    if text[i] == '"':
        out: list[str] = []
        i += 1
        while text[i] != '"':
            if text[i] == "\\":
                out.append(_unescape_at(text, i + 1))
                i += 2
            else:
                out.append(text[i])
                i += 1
        return "".join(out), i + 1
    end = i
    while end < len(text) and text[end] not in ", ":
        end += 1
    raw = text[i:end]
    if raw.endswith("i"):
        return int(raw[:-1]), end
    if raw in ("true", "false", "t", "f", "T", "F", "True", "False", "TRUE", "FALSE"):
        return raw[0] in "tT", end
    return float(raw), end


def parse_line(text: str) -> Point:
    """One line of line protocol; ValueError if it is not one."""
    try:
        measurement, i = _token(text, 0, ", ")
        tags: dict[str, str] = {}
        while text[i] == ",":
            key, i = _token(text, i + 1, "=")
            value, i = _token(text, i + 1, ", ")
            tags[key] = value
        fields: dict[str, FieldValue] = {}
        i += 1  # the space before the fields
        while True:
            key, i = _token(text, i, "=")
            fields[key], i = _value(text, i + 1)
            if i >= len(text) or text[i] == " ":
                break
            i += 1  # the comma between fields
        return Point(measurement, tags, fields, int(text[i + 1 :]))
    except (IndexError, ValueError) as exc:
        raise ValueError(f"not line protocol: {text[:80]!r}") from exc
