"""Reloading the configuration file on SIGHUP: which of a new file's changes a running
process takes, and which wait for its restart (``take``, pure), and the re-reading every
process does the same way (``reread``, which logs).

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
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from cablewatch.config.loader import load
from cablewatch.config.model import Config
from cablewatch.errors import CablewatchError

__all__ = ["Reloaded", "reread", "take"]

T = TypeVar("T")

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
        at_restart.remove("api")
        api_taken = {k: getattr(new.api, k) for k in _API_TAKEN}
        if dataclasses.replace(running.api, **api_taken) != new.api:
            at_restart.append("api (address, TLS)")
        if any(getattr(running.api, k) != v for k, v in api_taken.items()):
            taken.append("api (tokens, scopes)")
            effective = dataclasses.replace(
                effective, api=dataclasses.replace(running.api, **api_taken)
            )
    return Reloaded(effective, tuple(taken), tuple(at_restart))


def reread(
    running: Config, role: Role, log: logging.Logger, ready: Callable[[Config], T]
) -> tuple[Reloaded, T] | None:
    """The configuration file again, as ``role`` takes it, and what ``ready`` makes of it
    (the process's own part: it may raise CablewatchError). None if the file does not load or
    ``ready`` refuses it: one error line, and the running configuration stays. Sections that
    changed but wait for a restart are named in a warning."""
    path = running.source
    try:
        change = take(running, load(path), role)
        made = ready(change.config)
    except CablewatchError as exc:
        log.error("reload of %s refused, running configuration kept: %s", path,
                  str(exc).replace("\n", "; "))  # fmt: skip
        return None
    if change.at_restart:
        log.warning("reload of %s: %s changed; they take effect at the next restart", path,
                    ", ".join(change.at_restart))  # fmt: skip
    return change, made
