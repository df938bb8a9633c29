"""The probe agents' own health, each named by its region and host (the scrape labels agent_region
and agent_host of deploy/prometheus/prometheus.yml): rounds, skipped slots, spool depth, sender
errors by kind (a table: the kinds that happened, not a legend of zeros), when each last wrote;
an agent that stops is red at its next failed scrape ("up"), and its last write turns red after
three probe intervals."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common as mc
from grafana_foundation_sdk.models import dashboard as dm

from cablewatch.config import Config
from cablewatch.dashboards.common import GREEN, RED, YELLOW, dashboard, legend_table, steps
from cablewatch.dashboards.queries import PROMETHEUS, promql

__all__ = ["UID", "build"]

UID = "cablewatch-agents"
_WHO = "{{agent_region}} ({{agent_host}})"


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
        .with_target(promql("A", 'up{job="cablewatch", agent_region!=""}', legend=_WHO,
                            instant=True))
        .color_mode(mc.BigValueColorMode.BACKGROUND)
        .mappings([dm.ValueMap({"0": dm.ValueMappingResult(text="DOWN", color=RED),
                                "1": dm.ValueMappingResult(text="up", color=GREEN)})])
        .thresholds(steps((None, RED), (1, GREEN)))
    )  # fmt: skip
    last = (
        stat.Panel().title("Seconds since the last write to InfluxDB").datasource(PROMETHEUS)
        .span(24).height(5).unit("s")
        .with_target(promql("A", "time() - max by (agent_region, agent_host) "
                                 "(cablewatch_sink_last_success_timestamp_seconds)",
                            legend=_WHO, instant=True))
        .color_mode(mc.BigValueColorMode.BACKGROUND)
        .thresholds(steps((None, GREEN), (2 * interval, YELLOW), (3 * interval, RED)))
    )  # fmt: skip
    errors = (
        table.Panel().title("Sender errors in the range, by kind").datasource(PROMETHEUS)
        .span(12).height(7)
        .with_target(promql("A", "sum by (kind) (increase(cablewatch_sink_errors_total"
                                 "[$__range]))", legend="{{kind}}", instant=True))
    )  # fmt: skip
    return (
        dashboard(UID, "cablewatch: agents", "The probe agents' own health.", span="now-1h")
        .with_panel(up)
        .with_panel(last)
        .with_panel(_series("Rounds per second", "sum by (agent_region, agent_host) "
                            "(rate(cablewatch_probe_rounds_total[$__rate_interval]))", _WHO))
        .with_panel(_series("Skipped slots", "sum by (agent_region, agent_host) "
                            "(increase(cablewatch_agent_skipped_rounds_total[$__rate_interval]))",
                            _WHO))
        .with_panel(_series("Spool depth (points)", "max by (agent_region, agent_host) "
                            "(cablewatch_spool_points)", _WHO))
        .with_panel(_series("Schedule lag", "max by (agent_region, agent_host) "
                            "(cablewatch_agent_schedule_lag_seconds)", _WHO, "s"))
        .with_panel(errors)
        .with_panel(_series("Points written per second", "sum by (agent_region, agent_host) "
                            "(rate(cablewatch_sink_points_written_total[$__rate_interval]))",
                            _WHO))
    )  # fmt: skip
