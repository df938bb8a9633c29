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

__all__ = ["Point", "parse_line", "split_line"]


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


def split_line(text: str) -> tuple[str, dict[str, str], dict[str, str], int] | None:
    """The common line cut with str.split, values as written (strings still quoted): the
    measurement, tags, fields and time; None where a plain split could misread it (a
    backslash anywhere, a quoted string holding a space, comma or quote)."""
    parts = text.split(" ")
    if len(parts) != 3 or "\\" in text:
        return None
    head, fields_part, ts = parts
    measurement, _, tag_part = head.partition(",")
    items = fields_part.split(",")
    if '"' in fields_part:  # only whole "strings" without a comma (status="ok")
        for item in items:
            if '"' in item and (item.count('"') != 2 or item[-1] != '"' or
                                item.partition("=")[2][:1] != '"'):  # fmt: skip
                return None
    try:
        tags = dict(item.split("=", 1) for item in tag_part.split(",")) if tag_part else {}
        return measurement, tags, dict(item.split("=", 1) for item in items), int(ts)
    except ValueError:  # an item without '=', a time that is not a number
        return None


def _fast(text: str) -> Point | None:
    """The common line (:func:`split_line`), its values read; None where it could misread."""
    cut = split_line(text)
    if cut is None:
        return None
    measurement, tags, raw, ts = cut
    fields = {k: v[1:-1] if v[:1] == '"' else _scalar(v) for k, v in raw.items()}
    return Point(measurement, tags, fields, ts)


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
