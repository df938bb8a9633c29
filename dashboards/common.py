"""What every dashboard shares: the data-source and topology variables, thresholds taken from
the configuration, and small panel helpers over grafana-foundation-sdk's builders."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common as gcommon
from grafana_foundation_sdk.models import common as mc
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.common import DataSourceRef

from cablewatch.config import Config

with warnings.catch_warnings():  # the v1 dashboard builder warns at import; its schema is ours
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import dashboard as gd

__all__ = ["Limits", "dashboard", "gd", "limits", "steps", "tag_variable"]

GREEN, YELLOW, RED, GREY = "green", "#EAB839", "red", "#8e8e8e"


@dataclass(frozen=True, slots=True)
class Limits:
    """Colour thresholds, from the configuration."""

    stretch_warn: float
    """A path slower than this x its floor is worth a look (the failover score's 1.5) ..."""
    stretch_bad: float
    """... and the detector's max_stretch makes it slow."""
    loss_warn_pct: float
    """The tightest SLA loss objective ..."""
    loss_bad_pct: float
    """... and the tightest bad-minute loss."""


def limits(config: Config) -> Limits:
    slas = config.slas
    return Limits(
        stretch_warn=1.5,
        stretch_bad=config.detection.max_stretch,
        loss_warn_pct=min((p.loss_pct for p in slas), default=1.0),
        loss_bad_pct=min((p.bad_minute_loss_pct for p in slas), default=5.0),
    )


def steps(*pairs: tuple[float | None, str]) -> Any:
    """Absolute thresholds: (from value, colour); the first is the base (None)."""
    return (
        gd.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for v, c in pairs])
    )


def _datasource(name: str, plugin: str, label: str) -> Any:
    return gd.DatasourceVariable(name).label(label).type(plugin)


def tag_variable(name: str, label: str, measurement: str, key: str, where: str = "") -> Any:
    """A variable whose values are the tag values InfluxDB holds (never a hard-coded list)."""
    query = f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}"'
    if where:
        query += f" WHERE {where}"
    return (
        gd.QueryVariable(name)
        .label(label)
        .datasource(DataSourceRef(type_val="influxdb", uid="${influxdb}"))
        .query(query)
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )


def dashboard(uid: str, title: str, description: str, *, refresh: str = "30s",
              span: str = "now-1h") -> Any:  # fmt: skip
    """A dashboard with the data-source variables and the landing-station variable."""
    return (
        gd.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["cablewatch"])
        .refresh(refresh)
        .time(span, "now")
        .timezone("utc")
        .editable()
        .with_variable(_datasource("influxdb", "influxdb", "InfluxDB"))
        .with_variable(_datasource("prometheus", "prometheus", "Prometheus"))
        .with_variable(tag_variable("station", "Landing station", "ping", "landing_station"))
    )


def legend_table() -> Any:
    return (
        gcommon.VizLegendOptions()
        .show_legend(True)
        .display_mode(mc.LegendDisplayMode.TABLE)
        .placement(mc.LegendPlacement.RIGHT)
    )
