"""A small strict reader for TOML tables: every problem becomes a ConfigIssue.

Readers never raise on bad input; they record an issue (file, dotted key, value, what was
expected) and return ``None`` so that one pass reports every problem in a file. Unknown keys are
errors, reported by :meth:`Table.finish`.

Each section's settings class reads its own table (``from_table``) with :meth:`Table.read`:
the rules below name a key's type and range, and a key that is absent is simply not returned,
so the dataclass's own field default applies (defaults are declared once, beside the fields).
This module sits below every settings class; it imports nothing but ``errors``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cablewatch.errors import ConfigIssue

__all__ = ["Bool", "Int", "Name", "Num", "Str", "Table", "describe", "valid_name", "valid_url"]

_URL = re.compile(r"^https?://[^/\s]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def valid_name(value: str) -> bool:
    """A :class:`Name`: no control character, no backslash (line protocol cannot carry
    them unchanged)."""
    return not _CONTROL.search(value)


def valid_url(value: str) -> bool:
    """An http:// or https:// URL with a host."""
    return bool(_URL.match(value))


@dataclass(frozen=True, slots=True)
class Num:
    """A number (integers allowed), optionally bounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False


@dataclass(frozen=True, slots=True)
class Int:
    """A whole number, optionally bounded."""

    low: int | None = None
    high: int | None = None


@dataclass(frozen=True, slots=True)
class Str:
    """A non-empty string, or one of ``choices``."""

    choices: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Name:
    """A name that becomes an InfluxDB tag and a Prometheus label value: any printable text
    (spaces, commas, '=', quotes and non-ASCII are fine) but no control character and no
    backslash, which line protocol cannot carry through unchanged."""


@dataclass(frozen=True, slots=True)
class Bool:
    """true or false (TOML booleans only: "yes" and 1 are errors)."""


Rule = Num | Int | Str | Name | Bool


def describe(value: Any) -> str:
    """Render a TOML value for an error message, with its type."""
    kind = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)
    shown = repr(value) if not isinstance(value, dict | list) else kind
    if isinstance(value, dict | list):
        return shown
    return f"{shown} ({kind})"


class Table:
    """One TOML table at dotted path ``where`` of file ``file``."""

    def __init__(
        self, file: str, where: str, data: dict[str, Any], issues: list[ConfigIssue]
    ) -> None:
        self.file = file
        self.where = where
        self.data = data
        self.issues = issues
        self._seen: set[str] = set()

    # -- bookkeeping -----------------------------------------------------------------------

    def key(self, name: str) -> str:
        """Dotted key of ``name`` in this table ('' names the table itself)."""
        if not name:
            return self.where
        return f"{self.where}.{name}" if self.where else name

    def problem(self, name: str, text: str) -> None:
        self.issues.append(ConfigIssue(self.file, self.key(name), text))

    def _get(self, name: str, required: bool, expected: str) -> Any:
        self._seen.add(name)
        if name not in self.data:
            if required:
                self.problem(name, f"missing (expected {expected})")
            return None
        return self.data[name]

    def finish(self, secret_hint: Iterable[str] = ()) -> None:
        """Report keys nobody asked for. ``secret_hint`` keys get a pointer to *_env/*_file."""
        hints = set(secret_hint)
        for name in self.data:
            if name in self._seen:
                continue
            if name in hints:
                self.problem(
                    name,
                    "secrets are never read from the configuration file; "
                    f"name an environment variable in {name}_env or a file in {name}_file",
                )
                continue
            allowed = ", ".join(sorted(self._seen)) or "none"
            self.problem(name, f"unknown key (allowed here: {allowed})")

    # -- scalars ---------------------------------------------------------------------------

    def read(self, **rules: Rule) -> dict[str, Any]:
        """Each key of ``rules`` that the table gives, read by its rule; absent and invalid
        keys are left out (an invalid one is recorded as an issue), so that
        ``cls(**table.read(...))`` keeps the dataclass's defaults for the rest."""
        out: dict[str, Any] = {}
        for key, rule in rules.items():
            if isinstance(rule, Num):
                value: Any = self.number(key, required=False, low=rule.low, high=rule.high,
                                         low_open=rule.low_open)  # fmt: skip
            elif isinstance(rule, Int):
                value = self.integer(key, required=False, low=rule.low, high=rule.high)
            elif isinstance(rule, Name):
                value = self.name(key, required=False)
            elif isinstance(rule, Bool):
                value = self.boolean(key)
            else:
                value = self.string(key, required=False, choices=rule.choices)
            if value is not None:
                out[key] = value
        return out

    def boolean(self, key: str) -> bool | None:
        """An optional TOML boolean; None if absent or not a boolean (recorded)."""
        value = self._get(key, False, "true or false")
        if value is None:
            return None
        if not isinstance(value, bool):
            self.problem(key, f"got {describe(value)}, expected true or false")
            return None
        return value

    def identifier(self, key: str) -> str | None:
        """A required lowercase id such as 'kuala-lumpur' (regions, stations, customers)."""
        value = self.string(key)
        if value is not None and not _ID.match(value):
            self.problem(key, f"got {value!r}, expected a lowercase id such as 'kuala-lumpur'")
            return None
        return value

    def name(self, key: str, *, required: bool = True) -> str | None:
        """A :class:`Name`: a string without control characters or backslashes."""
        value = self.string(key, required=required)
        if value is not None and not valid_name(value):
            self.problem(key, f"got {value!r}, expected a name without control characters "
                         "or backslashes (line protocol cannot carry them)")  # fmt: skip
            return None
        return value

    def string(
        self,
        name: str,
        *,
        required: bool = True,
        default: str | None = None,
        choices: Iterable[str] | None = None,
    ) -> str | None:
        options = tuple(choices) if choices is not None else None
        expected = "a string" if options is None else "one of " + ", ".join(map(repr, options))
        value = self._get(name, required, expected)
        if value is None:
            return default
        if not isinstance(value, str) or (options is not None and value not in options):
            self.problem(name, f"got {describe(value)}, expected {expected}")
            return None
        if options is None and not value.strip():
            self.problem(name, "got an empty string, expected a non-empty string")
            return None
        return value

    def number(
        self,
        name: str,
        *,
        required: bool = True,
        default: float | None = None,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
    ) -> float | None:
        expected = _range_text("a number", low, high, low_open)
        value = self._get(name, required, expected)
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.problem(name, f"got {describe(value)}, expected {expected}")
            return None
        if not _in_range(float(value), low, high, low_open):
            self.problem(name, f"got {value!r}, expected {expected}")
            return None
        return float(value)

    def integer(
        self,
        name: str,
        *,
        required: bool = True,
        default: int | None = None,
        low: int | None = None,
        high: int | None = None,
    ) -> int | None:
        expected = _range_text("a whole number", low, high, False)
        value = self._get(name, required, expected)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(name, f"got {describe(value)}, expected {expected}")
            return None
        if not _in_range(value, low, high, False):
            self.problem(name, f"got {value!r}, expected {expected}")
            return None
        return value

    def moment(self, name: str, *, required: bool = True) -> float | None:
        """A TOML date-time with an offset (2026-11-10T02:00:00Z), as Unix seconds."""
        expected = "a date-time with an offset, such as 2026-11-10T02:00:00Z"
        value = self._get(name, required, expected)
        if value is None:
            return None
        if isinstance(value, dt.datetime | dt.date | dt.time) and not (
            isinstance(value, dt.datetime) and value.tzinfo is not None
        ):
            self.problem(name, f"got {value.isoformat()} (no offset: whose time?), expected "
                         f"{expected}")  # fmt: skip
            return None
        if not isinstance(value, dt.datetime):
            self.problem(name, f"got {describe(value)}, expected {expected}")
            return None
        return value.timestamp()

    def string_list(
        self, name: str, *, required: bool = True, choices: Iterable[str] | None = None
    ) -> list[str] | None:
        options = tuple(choices) if choices is not None else None
        expected = "an array of strings" + (
            "" if options is None else " from " + ", ".join(map(repr, options))
        )
        value = self._get(name, required, expected)
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            self.problem(name, f"got {describe(value)}, expected a non-empty {expected[3:]}")
            return None
        bad = [v for v in value if not isinstance(v, str) or (options and v not in options)]
        if bad:
            self.problem(name, f"got {bad[0]!r} in the array, expected {expected}")
            return None
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            self.problem(name, f"{dupes[0]!r} is listed twice")
            return None
        return list(value)

    # -- nested ----------------------------------------------------------------------------

    def table(self, name: str, *, required: bool = True) -> Table | None:
        value = self._get(name, required, "a table")
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(name, f"got {describe(value)}, expected a table")
            return None
        return Table(self.file, self.key(name), value, self.issues)

    def tables(self, name: str, *, required: bool = True) -> list[Table]:
        value = self._get(name, required, "an array of tables ([[" + self.key(name) + "]])")
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(name, f"got {describe(value)}, expected an array of tables")
            return []
        return [
            Table(self.file, f"{self.key(name)}[{i}]", v, self.issues) for i, v in enumerate(value)
        ]

    def subtables(self, name: str) -> list[tuple[str, Table]]:
        """A table whose keys are names (e.g. cable names) and whose values are tables."""
        outer = self.table(name, required=False)
        if outer is None:
            return []
        out: list[tuple[str, Table]] = []
        for key, value in outer.data.items():
            outer._seen.add(key)
            if not isinstance(value, dict):
                outer.problem(key, f"got {describe(value)}, expected a table")
                continue
            out.append((key, Table(self.file, outer.key(key), value, self.issues)))
        return out


def _range_text(kind: str, low: float | None, high: float | None, low_open: bool) -> str:
    if low is not None and high is not None:
        return f"{kind} from {low:g} to {high:g}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{kind} <= {high:g}"
    return kind


def _in_range(value: float, low: float | None, high: float | None, low_open: bool) -> bool:
    if low is not None and (value <= low if low_open else value < low):
        return False
    return high is None or value <= high
