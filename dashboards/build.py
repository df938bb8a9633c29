"""Build every dashboard from the configuration, as Grafana's JSON (sorted keys, 2-space
indent: stable, reviewable, committed in deploy/grafana/dashboards/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from cablewatch.config import Config
from cablewatch.dashboards import agents, cable, names, noc, path, sla

__all__ = ["MODULES", "build_all", "render", "write"]

MODULES = (noc, path, cable, sla, agents)


def build_all(config: Config) -> dict[str, dict[str, Any]]:
    """uid -> the dashboard's JSON model."""
    out: dict[str, dict[str, Any]] = {}
    for module in MODULES:
        model = json.loads(json.dumps(module.build(config).build(), cls=JSONEncoder))
        for number, panel in enumerate(model.get("panels", []), 1):
            panel["id"] = number  # in layout order: stable links to each panel
        names.apply(model, config.topology)
        out[model["uid"]] = model
    return out


def render(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(config: Config, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for uid, model in build_all(config).items():
        target = out / f"{uid}.json"
        target.write_text(render(model))
        written.append(target)
    return written
