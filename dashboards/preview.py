"""Draw a dashboard to a PNG with matplotlib, from the very same queries Grafana would run
against the live InfluxDB and Prometheus (dashboards/live.py): a picture of what the NOC sees,
without a Grafana server. Panels sit where their gridPos puts them (24 columns); stat panels
are coloured tiles (thresholds and value mappings as Grafana applies them), time series are
lines, heatmaps are bucket counts over time, tables are their first rows."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cablewatch.config import Config
from cablewatch.dashboards.check import Query, queries, substitute
from cablewatch.dashboards.live import Answer, Sources, run
from cablewatch.dashboards.names import rename, table_mappings
from cablewatch.errors import CablewatchError

__all__ = ["Drawn", "draw", "draw_all", "variables"]

_UNIT = {"ms": " ms", "percent": " %", "s": " s"}
_NAMED = {"green": "#37872D", "red": "#C4162A", "#EAB839": "#E0B400", "#8e8e8e": "#8e8e8e"}


def _colour(value: float | None, field: Mapping[str, Any]) -> tuple[str, str]:
    """(background colour, text) of one stat value, as Grafana decides them."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "#555555", str(field.get("noValue", "no data"))
    for mapping in field.get("mappings", []):
        opts = mapping.get("options", {})
        if mapping.get("type") == "value" and _key(value) in opts:
            res = opts[_key(value)]
            return _NAMED.get(res.get("color", ""), res.get("color", "#555555")), res["text"]
        if mapping.get("type") == "range" and opts.get("from", -1e18) <= value <= opts.get(
            "to", 1e18
        ):
            res = opts["result"]
            return _NAMED.get(res.get("color", ""), res.get("color", "")), res["text"]
    colour = "#37872D"
    for step in field.get("thresholds", {}).get("steps", []):
        if step.get("value") is None or value >= step["value"]:
            colour = _NAMED.get(step["color"], step["color"])
    # Grafana's automatic decimals show a count as a whole number
    decimals = field.get("decimals", 0 if float(value).is_integer() else 1)
    return colour, f"{value:.{decimals}f}{_UNIT.get(field.get('unit', ''), '')}"


def _key(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _legend(legend: str, labels: Mapping[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), legend)


def _series(answer: Answer, legend: str = "", shown: Callable[[str], str] = str,
            ) -> list[tuple[str, list[float], list[float | None]]]:  # fmt: skip
    """(name, times in s, values) of every series of an answer; Prometheus series are named
    by the target's legend format, as Grafana does ("{{region}}"), then as the panel's
    transformations rename them (``shown``)."""
    out: list[tuple[str, list[float], list[float | None]]] = []
    for s in answer.series:
        if "metric" in s:  # Prometheus
            labels = s["metric"]
            name = _legend(legend, labels) or ",".join(
                f"{k}={v}" for k, v in labels.items() if k != "__name__"
            )
            points = s.get("values") or [s["value"]]
            out.append((shown(name), [float(t) for t, _v in points],
                        [float(v) for _t, v in points]))  # fmt: skip
        else:  # InfluxDB
            tag = ",".join(s.get("tags", {}).values())
            for i, col in enumerate(s["columns"][1:], 1):
                name = tag or col if len(s["columns"]) == 2 else f"{tag} {col}".strip()
                out.append((shown(name), [v[0] / 1000 for v in s["values"]],
                            [v[i] for v in s["values"]]))  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class Drawn:
    """A drawn dashboard, and the panels a person would find reading "no data" (a panel with
    nothing to show, or a stat tile without a value)."""

    path: Path
    empty: tuple[str, ...]


def draw(model: Mapping[str, Any], src: Sources, values: Mapping[str, str], out: Path, *,
         start_s: float, end_s: float) -> Drawn:  # fmt: skip
    """Render ``model`` over [start_s, end_s] to ``out`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = model.get("panels", [])
    rows = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels), default=1)
    unit = 0.34  # inches per grid row
    fig = plt.figure(figsize=(20, rows * unit + 0.8), facecolor="#111217")
    shown = ", ".join(f"{k}={v}" for k, v in values.items() if k in _used(model))
    fig.suptitle(f"{model['title']}   ({shown})", color="white", fontsize=15, x=0.01,
                 ha="left")  # fmt: skip
    by_panel: dict[str, list[Query]] = {}
    for q in queries(model):
        by_panel.setdefault(q.where, []).append(q)
    height = rows * unit + 0.8
    empty = []
    for panel in panels:
        g = panel["gridPos"]
        left, width = g["x"] / 24, g["w"] / 24
        top = 1 - (0.6 + g["y"] * unit) / height
        axis = 0.03 if panel["type"] in ("timeseries", "heatmap") else 0.0  # y labels
        ax = fig.add_axes((left + 0.004 + axis, top - g["h"] * unit / height + 0.02,
                           width - 0.008 - axis, g["h"] * unit / height - 0.045))  # fmt: skip
        ax.set_facecolor("#181b1f")
        ax.set_title(substitute(panel["title"], values), color="white", fontsize=10, loc="left")
        legends = {t.get("refId", ""): t.get("legendFormat", "") for t in panel.get("targets", [])}
        answers = [(run(q.lang, q.text, src, values, start_s=start_s, end_s=end_s,
                        instant=q.instant or panel["type"] in ("stat", "table")),
                    legends.get(q.ref_id, ""))
                   for q in by_panel.get(panel["title"], [])]  # fmt: skip
        kind = panel["type"]
        if kind == "stat":
            has_data = _stat(ax, panel, answers)
        elif kind == "table":
            has_data = _table(ax, panel, answers)
        elif kind == "heatmap":
            has_data = _heatmap(ax, answers)
        else:
            has_data = _lines(ax, panel, answers)
        if not has_data:
            empty.append(substitute(panel["title"], values))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, facecolor=fig.get_facecolor())
    plt.close(fig)
    return Drawn(out, tuple(empty))


def _used(model: Mapping[str, Any]) -> set[str]:
    return {v["name"] for v in model.get("templating", {}).get("list", [])
            if v["type"] == "query"}  # fmt: skip


def _plain(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


Answers = list[tuple[Answer, str]]
"""Each query's answer, with its target's legend format."""


def _stat(ax: Any, panel: Mapping[str, Any], answers: Answers) -> bool:
    """Coloured tiles; False if a tile (or the panel) reads "no data"."""
    _plain(ax)
    field = {**panel.get("fieldConfig", {}).get("defaults", {})}
    tiles = []
    for answer, legend in answers:
        for name, _t, vals in _series(answer, legend, rename(panel)):
            last = next((v for v in reversed(vals) if v is not None), None)
            tiles.append((name, last))
    tiles.sort()
    if not tiles:
        ax.text(0.5, 0.5, "no data", color="#aaaaaa", ha="center", va="center")
        return False
    n = len(tiles)
    complete = True
    g = panel["gridPos"]
    orientation = panel.get("options", {}).get("orientation", "auto")
    # Grafana's auto: tiles side by side in a panel wider than tall (a grid column is about
    # 80 px, a row 30 px), stacked otherwise; "horizontal" stacks them
    side_by_side = orientation == "vertical" or (
        orientation == "auto" and g["w"] * 80 > g["h"] * 30
    )
    for i, (name, value) in enumerate(tiles):
        colour, text = _colour(value, field)
        complete &= value is not None and not (isinstance(value, float) and math.isnan(value))
        if side_by_side:
            x0 = i / n
            ax.add_patch(_tile(x0 + 0.005, 0.02, 1 / n - 0.01, 0.96, colour))
            ax.text(x0 + 0.5 / n, 0.75, name, color="white", ha="center", va="center",
                    fontsize=8)  # fmt: skip
            ax.text(x0 + 0.5 / n, 0.35, text, color="white", ha="center", va="center",
                    fontsize=13, fontweight="bold")  # fmt: skip
            continue
        y0 = 1 - (i + 1) / n
        ax.add_patch(_tile(0.01, y0 + 0.01, 0.98, 1 / n - 0.02, colour))
        ax.text(0.04, y0 + 0.5 / n, name, color="white", va="center", fontsize=9)
        ax.text(0.96, y0 + 0.5 / n, text, color="white", va="center", ha="right",
                fontsize=11, fontweight="bold")  # fmt: skip
    return complete


def _tile(x: float, y: float, w: float, h: float, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=colour, edgecolor="none")


def _lines(ax: Any, panel: Mapping[str, Any], answers: Answers) -> bool:
    import datetime as dt

    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    drawn = 0
    for answer, legend in answers:
        for name, times, vals in _series(answer, legend, rename(panel)):
            pts = [(dt.datetime.fromtimestamp(t, dt.UTC), v) for t, v in zip(times, vals,
                                                                            strict=True)
                   if v is not None and not math.isnan(v)]  # fmt: skip
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2, label=name[:28])
                drawn += 1
    ax.tick_params(colors="#cccccc", labelsize=7)
    ax.set_ylabel(unit, color="#cccccc", fontsize=8)
    ax.grid(color="#333333", lw=0.5)
    if drawn:
        ax.legend(fontsize=6, loc="upper left", ncol=3, framealpha=0.3, labelcolor="white",
                  facecolor="#181b1f")  # fmt: skip
    else:
        ax.text(0.5, 0.5, "no data", color="#aaaaaa", ha="center", va="center",
                transform=ax.transAxes)  # fmt: skip
    return drawn > 0


def _table(ax: Any, panel: Mapping[str, Any], answers: Answers) -> bool:
    _plain(ax)
    mapped = table_mappings(panel)
    rows: list[list[str]] = []
    header: list[str] = []
    for answer, _legend in answers:
        for s in answer.series:
            if "metric" in s:  # Prometheus, instant: its labels and value
                labels = {k: v for k, v in s["metric"].items() if k != "__name__"}
                header = [*labels, "Value"]
                rows.append([_cell(mapped.get(x, x)) for x in labels.values()]
                            + [_cell(float(s["value"][1]))])  # fmt: skip
                continue
            tags = s.get("tags", {})
            # Grafana's table shows InfluxQL's time column first, in the dashboard's zone (UTC)
            header = ["Time", *tags, *s["columns"][1:]]
            for v in s["values"][-6:]:
                cells = [_when(v[0]), *tags.values(), *v[1:]]
                rows.append([_cell(mapped.get(x, x) if isinstance(x, str) else x)
                             for x in cells])  # fmt: skip
    if not rows:  # Grafana shows the panel's "no value" text, if it has one, for no data
        said = panel.get("fieldConfig", {}).get("defaults", {}).get("noValue")
        ax.text(0.5, 0.5, said or "no rows", color="#cccccc" if said else "#aaaaaa",
                ha="center", va="center")  # fmt: skip
        return bool(said)
    table = ax.table(cellText=rows[:12], colLabels=header, loc="upper left", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    for cell in table.get_celld().values():
        cell.set_facecolor("#22252b")
        cell.get_text().set_color("white")
        cell.set_edgecolor("#333333")
    return True


def _when(epoch_ms: Any) -> str:
    import datetime as dt

    if not isinstance(epoch_ms, int | float):
        return _cell(epoch_ms)
    return dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _heatmap(ax: Any, answers: Answers) -> bool:
    import numpy as np

    buckets: dict[float, list[float]] = {}
    for answer, _legend in answers:
        for s in answer.series:
            le = s.get("metric", {}).get("le")
            if le is None or le == "+Inf":
                continue
            buckets[float(le)] = [float(v) for _t, v in s.get("values", [])]
    if not buckets:
        ax.text(0.5, 0.5, "no data", color="#aaaaaa", ha="center", va="center")
        _plain(ax)
        return False
    les = sorted(buckets)
    width = min(len(v) for v in buckets.values())
    cum = np.array([buckets[le][:width] for le in les])
    counts = np.diff(np.vstack([np.zeros(width), cum]), axis=0).clip(min=0)
    keep = counts.sum(axis=1) > 0
    ax.imshow(counts[keep], aspect="auto", origin="lower", cmap="Oranges")
    labels = [f"{le * 1000:.2f}" for le, k in zip(les, keep, strict=True) if k]
    ax.set_yticks(range(len(labels))[:: max(1, len(labels) // 8)])
    ax.set_yticklabels(labels[:: max(1, len(labels) // 8)], color="#cccccc", fontsize=7)
    ax.set_ylabel("ms above the floor", color="#cccccc", fontsize=8)
    ax.set_xticks([])
    return True


def variables(config: Config, settings: Sequence[str]) -> dict[str, str]:
    """Each dashboard variable's value: the topology's first station, region and cable and
    the first SLA customer, then ``NAME=VALUE`` settings over them."""
    topo = config.topology
    chosen = {"station": topo.landing_station.id, "region": topo.regions[0].id,
              "cable": topo.cables[0].name,
              "customer": config.slas[0].customer if config.slas else ""}  # fmt: skip
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep:
            raise CablewatchError(f"--set {item!r}: expected NAME=VALUE")
        chosen[name] = value
    return chosen


def draw_all(config: Config, prometheus: str, out: Path, span_s: float,
             settings: Sequence[str] = ()) -> list[Drawn]:  # fmt: skip
    """Every dashboard drawn to ``out/UID.png`` over the last ``span_s``, from the
    configuration's InfluxDB and ``prometheus``, with the variables of :func:`variables`."""
    from cablewatch.dashboards.build import build_all

    sink = config.influx("the dashboards read the system of record from it")
    chosen = variables(config, settings)
    src = Sources(sink.url, sink.database, prometheus.rstrip("/"))
    end = time.time()
    return [draw(model, src, chosen, out / f"{uid}.png", start_s=end - span_s, end_s=end)
            for uid, model in build_all(config).items()]  # fmt: skip
