"""Lab scenarios: timed events (cut, degrade, restore) played against the running lab.

A scenario is TOML, validated at load like the main configuration::

    name = "ADC cut"
    [[events]]
    at_s = 30
    action = "cut"          # cut | degrade | restore
    cable = "ADC"
    region = "jakarta"      # optional: one region only (cut, degrade)
    add_delay_ms = 20       # degrade: any of add_delay_ms, loss_pct, jitter_ms, rate_kbps
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cablewatch.errors import ConfigError, ConfigIssue
from cablewatch.lab import manager
from cablewatch.schema import Table

__all__ = ["Event", "load", "play"]

_DEGRADE = ("add_delay_ms", "loss_pct", "jitter_ms", "rate_kbps")


@dataclass(frozen=True, slots=True)
class Event:
    at_s: float
    action: str
    cable: str | None
    region: str | None = None
    params: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        where = (self.cable or "all cables") + (f" for {self.region}" if self.region else "")
        extra = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.action} {where}" + (f" ({extra})" if extra else "")


def load(path: Path) -> list[Event]:
    file = str(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError([ConfigIssue(file, "(file)", exc.strerror or str(exc))]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigIssue(file, "(syntax)", f"invalid TOML: {exc}")]) from exc
    issues: list[ConfigIssue] = []
    root = Table(file, "", data, issues)
    root.string("name", required=False)
    events: list[Event] = []
    for t in root.tables("events"):
        at_s = t.number("at_s", low=0)
        action = t.string("action", choices=("cut", "degrade", "restore"))
        cable = t.string("cable", required=action != "restore")
        region = t.string("region", required=False)
        params = {k: v for k in _DEGRADE if (v := t.number(k, required=False, low=0)) is not None}
        t.finish()
        if action == "degrade" and not params and "action" in t.data:
            t.problem("action", "degrade needs at least one of " + ", ".join(_DEGRADE))
        if action != "degrade" and params:
            t.problem(next(iter(params)), f"only degrade takes {', '.join(_DEGRADE)}")
        if action == "restore" and region is not None:
            t.problem("region", "restore applies to a whole cable (leave region out)")
        if at_s is not None and action is not None:
            events.append(Event(at_s, action, cable, region, params))
    root.finish()
    if issues:
        raise ConfigError(issues)
    return sorted(events, key=lambda e: e.at_s)


def play(
    opts: manager.LabOptions,
    events: list[Event],
    speed: float = 1.0,
    say: Callable[[str], Any] = print,
) -> None:
    """Apply each event at its time (divided by ``speed``); report each as it happens."""
    manager.load_state(opts)  # fail now, not at the first event, if no lab is up
    start = time.monotonic()
    for event in events:
        delay = start + event.at_s / speed - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the scenario's own timeline
        if event.action == "cut":
            manager.set_links(opts, event.cable or "", event.region, {"cut": True})
        elif event.action == "degrade":
            manager.set_links(opts, event.cable or "", event.region, dict(event.params))
        else:
            manager.restore(opts, event.cable)
        say(f"t={time.monotonic() - start:7.2f} s  {event.describe()}")
