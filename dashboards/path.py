"""One path (variables region, cable): the smoke graph SmokePing users expect (the RTT
distribution as a heatmap, a min / median / p95 band, the physics floor as a line, loss as
bars), fault events, failover switches and route changes as annotations, the TCP, HTTP and DNS
probes, and the time to first token of the streaming LLM API beside its floor."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import common as gcommon
from grafana_foundation_sdk.builders import heatmap, timeseries
from grafana_foundation_sdk.models import common as mc
from grafana_foundation_sdk.models import heatmap as hm

from cablewatch.config import Config
from cablewatch.dashboards.common import GREEN, RED, YELLOW, dashboard, gd, limits, steps
from cablewatch.dashboards.common import tag_variable as tags
from cablewatch.dashboards.queries import INFLUX, PROMETHEUS, influxql, promql

__all__ = ["UID", "build"]

UID = "cablewatch-path"
_WHERE = "\"region\" = '$region' AND \"cable\" = '$cable' AND $timeFilter"
_LABELS = 'region="$region",cable="$cable"'


def _annotation(name: str, colour: str, query: str, text: str) -> Any:
    """Points of an InfluxDB measurement as annotations."""
    return (
        gd.AnnotationQuery().name(name).datasource(INFLUX).enable(True).icon_color(colour)
        .target(influxql("A", query, table=True))
        .text_format(text)
    )  # fmt: skip


def build(config: Config) -> Any:
    lim = limits(config)
    heat = (
        heatmap.Panel().title("RTT above the physics floor (distribution)")
        .datasource(PROMETHEUS).span(24).height(8)
        .with_target(promql("A", "sum by (le) (increase(cablewatch_rtt_excess_seconds_bucket"
                                 f"{{{_LABELS}}}[$__rate_interval]))", heatmap=True,
                            legend="{{le}}"))
        .calculate(False)
        .color(_heat_colour())
        .y_axis(heatmap.YAxisConfig().unit("s"))
    )  # fmt: skip
    smoke = (
        timeseries.Panel().title("Smoke: min, median and p95 of every reply; the floor")
        .span(24).height(10).unit("ms")
        .with_target(influxql("A", 'SELECT min("rtt_ms") AS "min", median("rtt_ms") AS '
                                   '"median", percentile("rtt_ms", 95) AS "p95" FROM '
                                   f'"ping_rtt" WHERE {_WHERE} GROUP BY time($__interval) '
                                   "fill(none)"))
        .with_target(promql("B", f"max(cablewatch_path_floor_seconds{{{_LABELS}}}) * 1000",
                            legend="floor"))
        .fill_opacity(10)
    )  # fmt: skip
    loss = (
        timeseries.Panel().title("Loss").span(24).height(6).unit("percent")
        .with_target(influxql("A", 'SELECT 100 * (sum("packets_transmitted") - '
                                   'sum("packets_received")) / sum("packets_transmitted") AS '
                                   f'"loss" FROM "ping" WHERE {_WHERE} GROUP BY '
                                   "time($__interval) fill(none)"))
        .draw_style(mc.GraphDrawStyle.BARS).fill_opacity(80)
        .thresholds(steps((None, GREEN), (lim.loss_warn_pct, YELLOW), (lim.loss_bad_pct, RED)))
        .thresholds_style(gcommon.GraphThresholdsStyleConfig().mode(
            mc.GraphThresholdsStyleMode.LINE))
    )  # fmt: skip
    tcp = (
        timeseries.Panel().title("TCP connect").span(8).height(8).unit("ms")
        .with_target(influxql("A", 'SELECT mean("connect_ms") AS "connect" FROM "tcp" WHERE '
                                   f"{_WHERE} GROUP BY time($__interval) fill(none)"))
    )  # fmt: skip
    phases = ("dns", "connect", "tls", "first_byte", "transfer", "total")
    http = (
        timeseries.Panel().title("HTTP phases").span(8).height(8).unit("ms")
        .with_target(influxql("A", "SELECT " + ", ".join(
            f'mean("{p}_ms") AS "{p}"' for p in phases) + ' FROM "http" WHERE '
            f"{_WHERE} GROUP BY time($__interval) fill(none)"))
    )  # fmt: skip
    dns = (
        timeseries.Panel().title("DNS query").span(8).height(8).unit("ms")
        .with_target(influxql("A", 'SELECT mean("query_ms") AS "query" FROM "dns" WHERE '
                                   f"{_WHERE} GROUP BY time($__interval) fill(none)"))
    )  # fmt: skip
    ttft = (
        timeseries.Panel().title("Time to first token, and its floor").span(24).height(8)
        .unit("ms")
        .with_target(influxql("A", 'SELECT mean("ttft_ms") AS "ttft", mean("first_token_ms") '
                                   'AS "request to first token", mean("floor_ms") AS "floor" '
                                   f'FROM "ttft" WHERE {_WHERE} GROUP BY time($__interval) '
                                   "fill(none)"))
    )  # fmt: skip
    events = _annotation(
        "Fault events",
        "red",
        'SELECT "state", "severity", "regions" FROM "event" WHERE $timeFilter AND ("cable" = '
        "'$cable' OR \"region\" = '$region' OR \"scope\" = 'station') GROUP BY \"scope\", "
        '"subject"',
        "{{scope}} {{subject}}: {{state}}",
    )
    switches = _annotation(
        "Failover switches",
        "blue",
        'SELECT "reason" FROM "recommendation" WHERE "region" = \'$region\' AND $timeFilter',
        "{{reason}}",
    )
    routes = _annotation(
        "Route changes",
        "purple",
        'SELECT "summary", "cable_before", "cable_after" FROM "route_change" WHERE "region" = '
        "'$region' AND $timeFilter",
        "{{summary}}",
    )
    returns = _annotation(
        "Return cable changes",
        "orange",
        'SELECT "summary", "previous", "return_cable" FROM "return_path" WHERE "region" = '
        "'$region' AND \"cable\" = '$cable' AND $timeFilter",
        "{{summary}} (was {{previous}})",
    )
    return (
        dashboard(UID, "cablewatch: path", "One region over one cable: the smoke graph, loss, "
                  "the floor, the TCP, HTTP and DNS probes, and time to first token; fault "
                  "events, failover switches, the region's route changes and the cable this "
                  "path's replies come back over (STAMP) as annotations.", span="now-3h")
        .with_variable(tags("region", "Region", "ping", "region",
                            '"landing_station" =~ /^$station$/'))
        .with_variable(tags("cable", "Cable", "ping", "cable",
                            "\"region\" = '$region'"))
        .annotation(events)
        .annotation(switches)
        .annotation(routes)
        .annotation(returns)
        .with_panel(smoke)
        .with_panel(heat)
        .with_panel(loss)
        .with_panel(tcp)
        .with_panel(http)
        .with_panel(dns)
        .with_panel(ttft)
    )  # fmt: skip


def _heat_colour() -> Any:
    return (heatmap.HeatmapColorOptions().mode(hm.HeatmapColorMode.SCHEME).scheme("Oranges")
            .steps(64).exponent(0.5).fill("dark-orange"))  # fmt: skip
