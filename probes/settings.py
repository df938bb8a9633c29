"""``[probe]``: the keys every protocol shares, then each registered protocol's own keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cablewatch.probes.registry import PROBES
from cablewatch.probes.spec import CommonProbe
from cablewatch.schema import Num, Table

__all__ = ["ProbeSettings"]

S = TypeVar("S")


def _defaults() -> dict[str, Any]:
    empty = Table("(defaults)", "probe", {}, [])
    return {name: spec.settings(empty, CommonProbe()) for name, spec in PROBES.items()}


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    common: CommonProbe = field(default_factory=CommonProbe)
    protocols: Mapping[str, Any] = field(default_factory=_defaults)
    """Each registered protocol's settings, keyed by protocol name."""

    @property
    def interval_s(self) -> float:
        """The default round interval (ICMP's)."""
        return self.common.interval_s

    @property
    def timeout_s(self) -> float:
        return self.common.timeout_s

    def of(self, kind: type[S]) -> S:
        """The settings of the protocol whose settings class is ``kind``."""
        found = next(s for s in self.protocols.values() if isinstance(s, kind))
        return found

    @classmethod
    def from_table(cls, t: Table | None) -> ProbeSettings:
        if t is None:
            return cls()
        values = t.read(interval_s=Num(low=0, low_open=True), timeout_s=Num(low=0, low_open=True))
        common = CommonProbe(**values)
        protocols = {name: spec.settings(t, common) for name, spec in PROBES.items()}
        t.finish()
        return cls(common, protocols)
