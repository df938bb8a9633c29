"""Offline checks of a dashboard's JSON, as far as possible without a Grafana server
(../shared/grafana-jsonschema/README.md):

1. the dashboard against the dashboard schema; each panel's ``options`` and
   ``fieldConfig.defaults.custom`` against its panel type's ``Options`` and ``FieldConfig``;
   each Prometheus target against the Prometheus query schema;
2. a round trip through the SDK's own ``Dashboard.from_json()`` loses nothing;
3. the lints Grafana applies: uid pattern and length, unique panel ids, panels inside the
   24-column grid, every ``$variable`` defined.

Queries are listed here (``queries``) and expanded the way Grafana expands them
(``expand``), so that tests can run each one against the real InfluxDB and Prometheus, and
promtool can parse the PromQL.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema_rs

from cablewatch.dashboards.build import render

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.models.dashboard import Dashboard

__all__ = [
    "BUILTINS",
    "Query",
    "expand",
    "lint",
    "queries",
    "roundtrip",
    "schema_errors",
    "substitute",
]

BUILTINS = frozenset({"timeFilter", "__interval", "__interval_ms", "__rate_interval", "__range",
                      "__range_s", "__from", "__to", "__name", "__dashboard"})  # fmt: skip
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}|([A-Za-z_][A-Za-z0-9_]*))")
_UID = re.compile(r"^[a-zA-Z0-9_-]*$")


class Query(NamedTuple):
    where: str
    """The panel's title, 'annotation NAME' or 'variable NAME'."""
    ref_id: str
    lang: str
    """'influxql' or 'promql'."""
    text: str
    instant: bool = False


def _validator(schema_dir: Path, name: str, definition: str | None = None) -> Any:
    schema = json.loads((schema_dir / f"{name}.jsonschema.json").read_text())
    if definition is not None:
        schema = {**schema, "$ref": f"#/definitions/{definition}"}
    return jsonschema_rs.Draft7Validator(schema)


def schema_errors(model: Mapping[str, Any], schema_dir: Path) -> list[str]:
    out = [f"dashboard: {e.message} at {list(e.instance_path)}"
           for e in _validator(schema_dir, "dashboard").iter_errors(model)]  # fmt: skip
    prom = _validator(schema_dir, "prometheus")
    for panel in model.get("panels", []):
        kind, title = panel.get("type", ""), panel.get("title", "")
        if (schema_dir / f"{kind}.jsonschema.json").exists():
            opts = _validator(schema_dir, kind, "Options")
            out += [f"{title}: options: {e.message}" for e in opts.iter_errors(
                panel.get("options", {}))]  # fmt: skip
            custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
            if custom is not None:
                field = _validator(schema_dir, kind, "FieldConfig")
                out += [f"{title}: custom: {e.message}" for e in field.iter_errors(custom)]
        else:
            out.append(f"{title}: no schema for panel type {kind!r}")
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("type") == "prometheus":
                out += [f"{title}: target {target.get('refId')}: {e.message}"
                        for e in prom.iter_errors(target)]  # fmt: skip
    return out


def roundtrip(model: Mapping[str, Any]) -> str | None:
    """None when the SDK reads the model back to the same JSON; else the first difference."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    back = json.loads(json.dumps(Dashboard.from_json(dict(model)), cls=JSONEncoder))
    if render(back) == render(dict(model)):
        return None
    for key in sorted(set(back) | set(model)):
        if back.get(key) != model.get(key):
            return f"{key} differs after from_json()"
    return "differs after from_json()"


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def lint(model: Mapping[str, Any]) -> list[str]:
    """Grafana's own rules: uid, ids, the grid, variables."""
    out = []
    uid = str(model.get("uid", ""))
    if not uid or len(uid) > 40 or not _UID.match(uid):
        out.append(f"uid {uid!r}: 1 to 40 of a-z A-Z 0-9 _ -")
    panels = model.get("panels", [])
    ids = [p.get("id") for p in panels]
    if len(set(ids)) != len(ids) or None in ids:
        out.append(f"panel ids not unique: {ids}")
    for p in panels:
        g = p.get("gridPos", {})
        if g.get("x", 0) < 0 or g.get("w", 0) < 1 or g.get("x", 0) + g.get("w", 0) > 24:
            out.append(f"{p.get('title')}: outside the 24-column grid: {g}")
    defined = {v["name"] for v in model.get("templating", {}).get("list", [])}
    for text in _strings(model):
        for a, b in _VAR.findall(text):
            name = a or b
            alias = name.startswith("tag_") or name in ("col", "m")  # InfluxDB alias patterns
            if name not in defined and name not in BUILTINS and not alias:
                out.append(f"undefined variable ${name} in {text[:80]!r}")
    return out


def queries(model: Mapping[str, Any]) -> list[Query]:
    """Every query of the dashboard: panel targets, annotations, variables."""
    out: list[Query] = []

    def add(where: str, target: Mapping[str, Any]) -> None:
        if "expr" in target:
            out.append(Query(where, target.get("refId", ""), "promql", target["expr"],
                             bool(target.get("instant"))))  # fmt: skip
        elif "query" in target and isinstance(target["query"], str):
            out.append(Query(where, target.get("refId", ""), "influxql", target["query"]))

    for panel in model.get("panels", []):
        for target in panel.get("targets", []):
            add(panel.get("title", ""), target)
    for ann in model.get("annotations", {}).get("list", []):
        if "target" in ann:
            add(f"annotation {ann['name']}", ann["target"])
    for var in model.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            out.append(Query(f"variable {var['name']}", "", "influxql", var["query"]))
    return out


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``text`` with the dashboard's own variables (``$name``, ``${name}``) from ``values``, as
    Grafana shows them in titles; unknown ones stay as written."""
    return _VAR.sub(lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)


def expand(text: str, values: Mapping[str, str], *, start_ns: int, end_ns: int,
           interval_s: int) -> str:  # fmt: skip
    """``text`` with variables as Grafana expands them: ``$timeFilter`` (InfluxQL), the
    intervals and range, and the dashboard's own variables from ``values``."""
    range_s = max(1, (end_ns - start_ns) // 10**9)
    builtins = {
        "timeFilter": f"time >= {start_ns} AND time <= {end_ns}",
        "__interval": f"{interval_s}s",
        "__interval_ms": str(interval_s * 1000),
        "__rate_interval": f"{max(4 * interval_s, 4)}s",
        "__range": f"{range_s}s",
        "__range_s": str(range_s),
    }

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in builtins:
            return builtins[name]
        return values.get(name, m.group(0))

    return _VAR.sub(one, text)
