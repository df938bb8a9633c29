"""The probe agents' own health: rounds, skipped slots, spool depth, sender errors, when each
last wrote; an agent that stops is red at its next failed scrape ("up"), and its last write
turns red after three probe intervals."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.models import common as mc
from grafana_foundation_sdk.models import dashboard as dm

from cablewatch.config import Config
from cablewatch.dashboards.common import GREEN, RED, YELLOW, dashboard, legend_table, steps
from cablewatch.dashboards.queries import PROMETHEUS, promql

__all__ = ["UID", "build"]

UID = "cablewatch-agents"


def _series(title: str, expr: str, legend: str, unit: str = "none") -> Any:
    return (
        timeseries.Panel().title(title).datasource(PROMETHEUS).span(12).height(7).unit(unit)
        .legend(legend_table()).with_target(promql("A", expr, legend=legend))
    )  # fmt: skip


def build(config: Config) -> Any:
    interval = config.probe.interval_s
    up = (
        stat.Panel().title("Agents up (red: no scrape)").datasource(PROMETHEUS).span(24)
        .height(5)
        .with_target(promql("A", 'up{job="cablewatch"}', legend="{{instance}}", instant=True))
        .color_mode(mc.BigValueColorMode.BACKGROUND)
        .mappings([dm.ValueMap({"0": dm.ValueMappingResult(text="DOWN", color=RED),
                                "1": dm.ValueMappingResult(text="up", color=GREEN)})])
        .thresholds(steps((None, RED), (1, GREEN)))
    )  # fmt: skip
    last = (
        stat.Panel().title("Seconds since the last write to InfluxDB").datasource(PROMETHEUS)
        .span(24).height(5).unit("s")
        .with_target(promql("A", "time() - max by (instance) "
                                 "(cablewatch_sink_last_success_timestamp_seconds)",
                            legend="{{instance}}", instant=True))
        .color_mode(mc.BigValueColorMode.BACKGROUND)
        .thresholds(steps((None, GREEN), (2 * interval, YELLOW), (3 * interval, RED)))
    )  # fmt: skip
    return (
        dashboard(UID, "cablewatch: agents", "The probe agents' own health.", span="now-1h")
        .with_panel(up)
        .with_panel(last)
        .with_panel(_series("Rounds per second", "sum by (instance) "
                            "(rate(cablewatch_probe_rounds_total[$__rate_interval]))",
                            "{{instance}}"))
        .with_panel(_series("Skipped slots", "sum by (instance) "
                            "(increase(cablewatch_agent_skipped_rounds_total[$__rate_interval]))",
                            "{{instance}}"))
        .with_panel(_series("Spool depth (points)", "cablewatch_spool_points", "{{instance}}"))
        .with_panel(_series("Schedule lag", "cablewatch_agent_schedule_lag_seconds",
                            "{{instance}}", "s"))
        .with_panel(_series("Sender errors by kind", "sum by (instance, kind) "
                            "(increase(cablewatch_sink_errors_total[$__rate_interval]))",
                            "{{instance}} {{kind}}"))
        .with_panel(_series("Points written per second", "sum by (instance) "
                            "(rate(cablewatch_sink_points_written_total[$__rate_interval]))",
                            "{{instance}}"))
    )  # fmt: skip
