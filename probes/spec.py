"""What a probe protocol is: the shape every protocol file fills in, one :class:`ProbeSpec`.

A spec names the protocol and gives, in one place, everything the rest of cablewatch needs of
it: its settings (read from ``[probe]``), the function that runs one probe, the points it
stores (measurement and fields; collectors/ turns them into line protocol) and the columns the
CLI shows. The registry (probes/registry.py) maps each protocol name to its spec: adding a
protocol is one new file and one line there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, cast

from cablewatch.probes.result import ProbeResult
from cablewatch.values import FieldValue

if TYPE_CHECKING:
    from cablewatch.schema import Table
    from cablewatch.topology.model import Topology

__all__ = [
    "DEFAULT_INTERVAL_S",
    "DEFAULT_TIMEOUT_S",
    "Column",
    "CommonProbe",
    "FieldValue",
    "Fields",
    "Metric",
    "PathMetrics",
    "Point",
    "ProbeContext",
    "ProbeJob",
    "ProbeSpec",
    "common_fields",
    "ms_cell",
]

S = TypeVar("S")
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
    """What the probes of one process share: the network namespace they probe from (None: this
    one), the topology (traces are attributed to cables against it), and what a protocol keeps
    open between probes (the ICMP engine's sockets), made on first use by :meth:`shared` and
    closed with the context."""

    netns: str | None = None
    topology: Topology | None = None
    _shared: dict[str, Any] = field(default_factory=dict)

    def shared(self, key: str, make: Callable[[], S]) -> S:
        """The context's one ``key`` resource, made by ``make`` the first time."""
        found = self._shared.get(key)
        if found is None:
            found = self._shared[key] = make()
        return cast(S, found)

    def close(self) -> None:
        for resource in self._shared.values():
            resource.close()
        self._shared.clear()

    async def __aenter__(self) -> ProbeContext:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class ProbeJob:
    """One protocol against one target address, from one region over one cable."""

    protocol: str
    address: str
    labels: dict[str, str]
    interval_s: float

    @property
    def series(self) -> str:
        return "|".join((self.protocol, self.labels["region"], self.labels["cable"] or "service",
                         self.address))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Metric:
    """A Prometheus family a protocol's results feed, one series per path (labels region,
    cable, target, then ``extra``); collectors/exporter.py registers it and hands each path's
    series to the protocol's ``observe``."""

    name: str
    kind: Literal["histogram", "counter", "gauge"]
    help: str
    buckets: tuple[float, ...] = ()
    """A histogram's upper bounds."""
    extra: tuple[str, ...] = ()


class PathMetrics(Protocol):
    """One path's series of the protocol's metrics (by name), as ``observe`` gets them."""

    floor_ms: float | None
    """The path's physics floor; None when the topology does not know the path."""

    def observe(self, name: str, value: float, *extra: str) -> None: ...

    def inc(self, name: str, value: float, *extra: str) -> None: ...

    def set(self, name: str, value: float, *extra: str) -> None: ...


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
    run_many: (
        Callable[[ProbeContext, Sequence[tuple[str, dict[str, str]]], Any],
                 Awaitable[list[ProbeResult]]]
        | None
    ) = None  # fmt: skip
    """(context, [(address, labels)], settings) -> a result each, in order: the protocol probes
    many targets at once for less than one at a time (ICMP: one pass of packets, one future),
    so an agent probes whatever of it is due together, on one clock (agent/batches.py)."""
    start: Callable[[ProbeContext], str] | None = None
    """Opens what the protocol keeps open (may raise: a missing privilege is told at start,
    not at the first round); returns a line for the log."""
    metrics: tuple[Metric, ...] = ()
    """The protocol's own Prometheus series (beside every protocol's rounds and phases)."""
    observe: Callable[[ProbeResult, PathMetrics], None] | None = None
    """Feeds one result to its path's series of ``metrics``."""


def common_fields(result: ProbeResult) -> dict[str, FieldValue | None]:
    """Fields every stored result carries: its status and Telegraf's result_code."""
    return {"status": result.status, "result_code": result.result_code}


def ms_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
