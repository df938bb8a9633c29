"""The one exception tree of cablewatch: every class it raises on purpose is here.

Every error a user can cause or meet says what was wrong and where. Packet loss, timeouts and
refused connections are *results* (fields of a probe result), never exceptions.

- :class:`CablewatchError` -- base of everything raised on purpose.
  - configuration and input: :class:`ConfigError` (with one :class:`ConfigIssue` per
    problem), :class:`TargetError`, :class:`UnknownNameError`
  - probing: :class:`IcmpPermissionError`
  - the services cablewatch talks to: :class:`SinkError` (InfluxDB; :class:`BusError`, NATS),
    :class:`AlertmanagerError`
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AlertmanagerError",
    "BusError",
    "CablewatchError",
    "ConfigError",
    "ConfigIssue",
    "IcmpPermissionError",
    "SinkError",
    "SinkErrorKind",
    "TargetError",
    "UnknownNameError",
]


class CablewatchError(Exception):
    """Base class of every error cablewatch raises on purpose."""


# -- configuration and input -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a configuration file: file, dotted key, what was wrong."""

    file: str
    key: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.problem}"


class ConfigError(CablewatchError):
    """A configuration file failed validation; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class TargetError(CablewatchError):
    """A probe target is malformed (bad port, bad URL, bad server address)."""


class UnknownNameError(CablewatchError):
    """A region, cable or customer name that the configuration does not have."""


# -- probing ---------------------------------------------------------------------------------


class IcmpPermissionError(CablewatchError):
    """No ICMP socket can be opened: not root, no CAP_NET_RAW, ping_group_range excludes us."""

    def __init__(self, family: str, gid: int) -> None:
        self.family = family
        super().__init__(
            f"no permission to open an ICMP socket ({family}): run as root or with CAP_NET_RAW "
            f"(deploy/systemd's agent unit grants it; elsewhere `setcap cap_net_raw+ep "
            f"<python>`), or allow "
            f"unprivileged ICMP for group {gid} with "
            f'`sysctl -w net.ipv4.ping_group_range="{gid} {gid}"`'
        )


# -- services cablewatch talks to ------------------------------------------------------------

SinkErrorKind = Literal[
    "unreachable", "auth", "not_found", "rejected", "partial", "server", "config"
]


class SinkError(CablewatchError):
    """An InfluxDB write or query failed; ``kind`` tells whether retrying can help. A
    ``partial`` write stored every point but ``refused`` ones (beyond the retention policy)."""

    what = "influxdb sink"

    def __init__(self, sink: str, kind: SinkErrorKind, message: str, refused: int = 0) -> None:
        self.sink = sink
        self.kind = kind
        self.refused = refused
        super().__init__(f"{self.what} {sink}: {message}")


class BusError(SinkError):
    """The message bus (NATS JetStream, ``[bus]``) did not take or give what was asked: no
    server answered (``unreachable``), or its stream or consumer was made with other settings
    than cablewatch needs (``config``: the message names the setting)."""

    what = "bus"


class AlertmanagerError(CablewatchError):
    """Alertmanager did not take the alerts posted to it (no answer, or not HTTP 200)."""
