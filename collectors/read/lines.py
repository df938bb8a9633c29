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
    return _scalar(text[i:end]), end


def _fast(text: str) -> Point | None:
    """The common line, parsed with str.split: no backslash anywhere, and no quoted string
    holding a space, comma or equals sign (ours, but for names and notes); None otherwise."""
    if "\\" in text:
        return None
    head, _, rest = text.partition(" ")
    fields_part, _, ts = rest.rpartition(" ")
    if not fields_part:
        return None
    measurement, *tag_items = head.split(",")
    tags: dict[str, str] = {}
    for item in tag_items:
        key, eq, value = item.partition("=")
        if not eq or "=" in value:
            return None
        tags[key] = value
    fields: dict[str, FieldValue] = {}
    for item in fields_part.split(","):
        key, eq, raw = item.partition("=")
        if not eq or not raw:
            return None
        if raw[0] == '"':
            if len(raw) < 2 or raw[-1] != '"' or '"' in raw[1:-1]:
                return None
            fields[key] = raw[1:-1]
        else:
            fields[key] = _scalar(raw)
    return Point(measurement, tags, fields, int(ts))


def _scalar(raw: str) -> FieldValue:
    if raw[-1] == "i":
        return int(raw[:-1])
    if raw in _BOOLS:
        return raw[0] in "tT"
    return float(raw)


_BOOLS = frozenset(("true", "false", "t", "f", "T", "F", "True", "False", "TRUE", "FALSE"))


def parse_line(text: str) -> Point:
    """One line of line protocol; ValueError if it is not one."""
    try:
        fast = _fast(text)
        if fast is not None:
            return fast
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
