"""Display names where a person reads a dashboard: region ids in series names and table
cells become the topology's names ("ho-chi-minh-city" -> "Ho Chi Minh City"). Queries,
variables and links keep the ids; Grafana renames what it shows (a ``renameByRegex``
transformation per region for series names, value mappings for a table's cells),
and the previews apply the same rules (:func:`rename`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from cablewatch.topology.model import Topology

__all__ = ["apply", "rename", "table_mappings"]


def _pattern(region_id: str) -> str:
    """The id as a whole word ("manila" is renamed, "manila-2" would not be), anywhere in the
    name: Grafana anchors a bare regex at both ends (stringToJsRegex), not one in slashes."""
    return f"/(^|[^A-Za-z0-9-]){re.escape(region_id)}(?![A-Za-z0-9-])/"


def apply(model: dict[str, Any], topology: Topology) -> None:
    """Give every panel that shows regions the renaming rules (in place)."""
    named = {r.id: r.name for r in topology.regions if r.name != r.id}
    if not named:
        return
    for panel in model.get("panels", []):
        if "region" not in _text(panel):
            continue
        panel.setdefault("transformations", []).extend(
            {"id": "renameByRegex",
             "options": {"regex": _pattern(rid), "renamePattern": f"$1{name}"}}
            for rid, name in named.items()
        )  # fmt: skip
        if panel.get("type") == "table":  # cells: a value mapping over every column's values
            defaults = panel.setdefault("fieldConfig", {"defaults": {}, "overrides": []})
            defaults["defaults"].setdefault("mappings", []).append(
                {"type": "value",
                 "options": {rid: {"text": name, "index": i}
                             for i, (rid, name) in enumerate(named.items())}}
            )  # fmt: skip


def _text(panel: Mapping[str, Any]) -> str:
    return " ".join(
        str(t.get(key, ""))
        for t in panel.get("targets", [])
        for key in ("query", "expr", "legendFormat", "alias")
    )


def rename(panel: Mapping[str, Any]) -> Callable[[str], str]:
    """A series name as the panel's renameByRegex transformations leave it (JavaScript's
    ``$1`` as Python's ``\\1``)."""
    rules = [
        (_python(t["options"]["regex"]),
         re.sub(r"\$(\d)", r"\\\1", t["options"]["renamePattern"]))
        for t in panel.get("transformations", [])
        if t.get("id") == "renameByRegex"
    ]  # fmt: skip

    def apply_rules(name: str) -> str:
        for pattern, replacement in rules:
            name = pattern.sub(replacement, name)
        return name

    return apply_rules


def _python(regex: str) -> re.Pattern[str]:
    """Grafana's reading of a regex option: ``/body/flags`` as is, else anchored."""
    if regex.startswith("/"):
        body, _, flags = regex[1:].rpartition("/")
        return re.compile(body, re.IGNORECASE if "i" in flags else 0)
    return re.compile(f"^{regex}$")


def table_mappings(panel: Mapping[str, Any]) -> dict[str, str]:
    """{value: text} of the panel's value mappings (a table shows every cell through them)."""
    out: dict[str, str] = {}
    for mapping in panel.get("fieldConfig", {}).get("defaults", {}).get("mappings", []):
        if mapping.get("type") == "value":
            out |= {k: v["text"] for k, v in mapping["options"].items()}
    return out
