"""One cable (variable cable): every region over it overlaid, and loss per region: what a
cable event looks like (every line moves together) next to a regional one (one line moves)."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import timeseries

from cablewatch.config import Config
from cablewatch.dashboards.common import GREEN, RED, YELLOW, dashboard, legend_table, limits, steps
from cablewatch.dashboards.common import tag_variable as tags
from cablewatch.dashboards.queries import PROMETHEUS, influxql, promql

__all__ = ["UID", "build"]

UID = "cablewatch-cable"
_WHERE = '"cable" = \'$cable\' AND "landing_station" =~ /^$station$/ AND $timeFilter'


def build(config: Config) -> Any:
    lim = limits(config)
    median = (
        timeseries.Panel().title("Median RTT per region over $cable").span(24).height(10)
        .unit("ms").legend(legend_table())
        .with_target(influxql("A", 'SELECT median("rtt_ms") FROM "ping_rtt" WHERE '
                                   f'{_WHERE} GROUP BY time($__interval), "region" '
                                   "fill(none)"))
    )  # fmt: skip
    stretch = (
        timeseries.Panel().title("Stretch over the physics floor per region").span(24)
        .height(8).unit("none").datasource(PROMETHEUS).legend(legend_table())
        .with_target(promql("A", 'max by (region) (cablewatch_last_round_rtt_seconds'
                                 '{cable="$cable",stat="median"}) / on (region) max by '
                                 '(region) (cablewatch_path_floor_seconds{cable="$cable"})',
                            legend="{{region}}"))
        .thresholds(steps((None, GREEN), (lim.stretch_warn, YELLOW), (lim.stretch_bad, RED)))
    )  # fmt: skip
    loss = (
        timeseries.Panel().title("Loss per region over $cable").span(24).height(8)
        .unit("percent").legend(legend_table())
        .with_target(influxql("A", 'SELECT 100 * (sum("packets_transmitted") - '
                                   'sum("packets_received")) / sum("packets_transmitted") FROM '
                                   f'"ping" WHERE {_WHERE} GROUP BY time($__interval), '
                                   '"region" fill(none)'))
        .thresholds(steps((None, GREEN), (lim.loss_warn_pct, YELLOW), (lim.loss_bad_pct, RED)))
    )  # fmt: skip
    return (
        dashboard(UID, "cablewatch: cable", "Every region over one cable: a cable event moves "
                  "every line, a regional one moves one.", span="now-3h")
        .with_variable(tags("cable", "Cable", "ping", "cable",
                            '"landing_station" =~ /^$station$/'))
        .with_panel(median)
        .with_panel(stretch)
        .with_panel(loss)
    )  # fmt: skip
