"""The one exception tree of cablewatch.

Every error a user can cause or meet says what was wrong and where. Packet loss, timeouts and
refused connections are *results* (fields of a probe result), never exceptions.

- :class:`CablewatchError` -- base of everything raised on purpose.
  - :class:`ConfigError` -- a configuration file is invalid; carries one :class:`ConfigIssue`
    per problem (file, key, value, what was expected).
  - :class:`TargetError` -- a target given on the command line is malformed (bad port, bad URL).
  - :class:`IcmpPermissionError` -- neither raw nor unprivileged ICMP sockets may be opened.
  - :class:`UnknownNameError` -- an unknown region or cable name.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CablewatchError",
    "ConfigError",
    "ConfigIssue",
    "IcmpPermissionError",
    "TargetError",
    "UnknownNameError",
]


class CablewatchError(Exception):
    """Base class of every error cablewatch raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a configuration file."""

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
    """A region or cable name that the topology does not have."""


class IcmpPermissionError(CablewatchError):
    """No ICMP socket can be opened: not root, no CAP_NET_RAW, ping_group_range excludes us."""

    def __init__(self, family: str, gid: int) -> None:
        self.family = family
        super().__init__(
            f"no permission to open an ICMP socket ({family}): run as root, or grant the "
            f"interpreter raw sockets with `setcap cap_net_raw+ep <python>`, or allow "
            f"unprivileged ICMP for group {gid} with "
            f'`sysctl -w net.ipv4.ping_group_range="{gid} {gid}"`'
        )
