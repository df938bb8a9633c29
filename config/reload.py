"""Reloading the configuration file on SIGHUP (pure): which of a new file's changes a running
process takes, and which wait for its restart.

As Prometheus and blackbox_exporter do, a file that does not load is refused whole and the
running configuration kept. A file that loads is taken section by section:

- an agent takes its region's targets and probe settings (``[probe]``, ``[[targets]]``, the
  topology's paths): what it probes and how often;
- ``serve`` / ``evaluate`` take the SLA policies, maintenance windows, report settings,
  webhooks and the API's tokens and scopes;
- everything else (the sinks, detection, failover, the evaluator's loop, the Alertmanager
  URLs, the API's address and TLS files) is what the process was built on: a change there is
  named in the log and takes effect at the next restart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from cablewatch.config.model import Config

__all__ = ["Reloaded", "take"]

Role = Literal["agent", "evaluator"]

_TAKEN: dict[Role, tuple[str, ...]] = {
    "agent": ("topology", "probe"),
    "evaluator": ("slas", "maintenance", "report", "webhooks"),
}
_API_TAKEN = ("tokens_env", "tokens_file", "scopes")


@dataclass(frozen=True, slots=True)
class Reloaded:
    config: Config
    """The configuration to run with now."""
    taken: tuple[str, ...]
    """Sections whose change was taken."""
    at_restart: tuple[str, ...]
    """Sections that changed but wait for a restart (kept as they were)."""


def take(running: Config, new: Config, role: Role) -> Reloaded:
    """What ``role`` runs with after reading ``new`` while running ``running``."""
    fields = [f.name for f in dataclasses.fields(Config) if f.name != "source"]
    changed = [name for name in fields if getattr(running, name) != getattr(new, name)]
    taken = [name for name in changed if name in _TAKEN[role]]
    at_restart = [name for name in changed if name not in _TAKEN[role]]
    effective = dataclasses.replace(running, **{name: getattr(new, name) for name in taken})
    if role == "evaluator" and "api" in changed and running.api and new.api:
        api_taken = {k: getattr(new.api, k) for k in _API_TAKEN}
        if dataclasses.replace(running.api, **api_taken) != new.api:
            at_restart.remove("api")
            at_restart.append("api (address, TLS)")
        else:
            at_restart.remove("api")
        if any(getattr(running.api, k) != v for k, v in api_taken.items()):
            taken.append("api (tokens, scopes)")
            effective = dataclasses.replace(
                effective, api=dataclasses.replace(running.api, **api_taken)
            )
    return Reloaded(effective, tuple(taken), tuple(at_restart))
