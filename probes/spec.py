"""What a probe protocol is: the shape every protocol file fills in, one :class:`ProbeSpec`.

A spec names the protocol and gives, in one place, everything the rest of cablewatch needs of
it: its settings (read from ``[probe]``), the function that runs one probe, the points it
stores (measurement and fields; collectors/ turns them into line protocol) and the columns the
CLI shows. The registry (probes/registry.py) maps each protocol name to its spec: adding a
protocol is one new file and one line there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from cablewatch.probes.result import ProbeResult

if TYPE_CHECKING:
    from cablewatch.probes.icmp import IcmpEngine
    from cablewatch.schema import Table
    from cablewatch.topology.model import Topology

__all__ = [
    "DEFAULT_INTERVAL_S",
    "DEFAULT_TIMEOUT_S",
    "Column",
    "CommonProbe",
    "FieldValue",
    "Fields",
    "Point",
    "ProbeContext",
    "ProbeSpec",
    "common_fields",
    "ms_cell",
]

S = TypeVar("S")
FieldValue = float | int | bool | str
DEFAULT_INTERVAL_S = 10.0
DEFAULT_TIMEOUT_S = 2.0
Fields = Mapping[str, FieldValue | None]


@dataclass(frozen=True, slots=True)
class Point:
    """One stored point of a result: ``offset_ns`` is added to the result's timestamp (so that
    the packets of one ICMP round are distinct points)."""

    measurement: str
    fields: Fields
    offset_ns: int = 0


@dataclass(frozen=True, slots=True)
class Column:
    """A column of the CLI's result table: header and the cell's text for one result."""

    header: str
    cell: Callable[[ProbeResult], str]
    right: bool = True


@dataclass(frozen=True, slots=True)
class CommonProbe:
    """``[probe]`` keys every protocol shares: its default interval and its timeout."""

    interval_s: float = DEFAULT_INTERVAL_S
    """One round per target every interval_s (each protocol may set its own)."""
    timeout_s: float = DEFAULT_TIMEOUT_S
    """No answer within this is loss or a timeout (RFC 2681), never a long time."""

    def settings(self, cls: Callable[..., S], values: dict[str, Any], interval_key: str = "") -> S:
        """A protocol's settings: ``cls(**values)`` with this timeout and this interval, or
        the protocol's own interval (``values[interval_key]``) when the file gives one."""
        own = values.pop(interval_key, self.interval_s) if interval_key else self.interval_s
        return cls(**values, interval_s=own, timeout_s=self.timeout_s)


@dataclass(slots=True)
class ProbeContext:
    """What probes of one process share: the ICMP engine's sockets (and its namespace), and
    the topology, against which traces are attributed to cables."""

    icmp: IcmpEngine
    topology: Topology | None = None


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    protocol: str
    settings: Callable[[Table, CommonProbe], Any]
    """Reads the protocol's keys of ``[probe]`` (``from_table`` of its settings class); the
    result has ``interval_s`` and ``timeout_s``."""
    run: Callable[[ProbeContext, str, Any, dict[str, str]], Awaitable[ProbeResult]]
    """(context, address, the protocol's settings, labels) -> one result."""
    points: Callable[[ProbeResult], list[Point]]
    columns: tuple[Column, ...]
    floor_rtt: Callable[[ProbeResult], float | None] | None = None
    """For protocols that measure a round trip: the RTT to set against the physics floor."""


def common_fields(result: ProbeResult) -> dict[str, FieldValue | None]:
    """Fields every stored result carries: its status and Telegraf's result_code."""
    return {"status": result.status, "result_code": result.result_code}


def ms_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
