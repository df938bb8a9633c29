"""The NOC overview, the wall screen (refresh 10 s): every path's state as a region x cable
matrix beside its median RTT, stretch over the physics floor and loss; the open fault events;
each region's recommended cable; the landing station's state; the way back (each path's last
return-cable change, from STAMP). A cut cable is a red column."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grafana_foundation_sdk.builders import stat, table
from grafana_foundation_sdk.models import common as mc
from grafana_foundation_sdk.models import dashboard as dm

from cablewatch.config import Config
from cablewatch.dashboards.common import GREEN, GREY, RED, YELLOW, dashboard, limits, steps
from cablewatch.dashboards.queries import INFLUX, PROMETHEUS, influxql, promql

__all__ = ["UID", "build"]

UID = "cablewatch-noc"
_STATION = 'landing_station=~"$station"'


def _column(title: str, query: str, unit: str, thresholds: Any, *, decimals: int = 1,
            mappings: list[Any] | None = None, influx: bool = False) -> Any:  # fmt: skip
    """One cable's column of the region x cable matrix: a coloured tile per region."""
    target = (influxql("A", query, alias="$tag_region") if influx
              else promql("A", query, legend="{{region}}", instant=True))  # fmt: skip
    panel = (
        stat.Panel().title(title).datasource(INFLUX if influx else PROMETHEUS).span(8)
        .height(9).with_target(target)
        .unit(unit).decimals(decimals).thresholds(thresholds)
        .color_mode(mc.BigValueColorMode.BACKGROUND)
        .graph_mode(mc.BigValueGraphMode.NONE)
        .text_mode(mc.BigValueTextMode.VALUE_AND_NAME)
        .orientation(mc.VizOrientation.HORIZONTAL)
        .no_value("no data")
    )  # fmt: skip
    return panel.mappings(mappings) if mappings else panel


def build(config: Config) -> Any:
    lim = limits(config)
    state = [dm.ValueMap({
        "0": dm.ValueMappingResult(text="good", color=GREEN),
        "1": dm.ValueMappingResult(text="FAULT", color=RED),
        "2": dm.ValueMappingResult(text="no data", color=GREY),
    })]  # fmt: skip
    station = (
        stat.Panel().title("Landing station").datasource(PROMETHEUS).span(4).height(5)
        .with_target(promql("A", 'sum(cablewatch_fault_events_open{scope="station"})',
                            instant=True))
        .color_mode(mc.BigValueColorMode.BACKGROUND)
        .mappings([dm.ValueMap({"0": dm.ValueMappingResult(text="UP", color=GREEN)}),
                   dm.RangeMap(dm.DashboardRangeMapOptions(
                       from_val=1, to=1e9, result=dm.ValueMappingResult(text="DOWN",
                                                                        color=RED)))])
        .thresholds(steps((None, GREEN), (1, RED)))
    )  # fmt: skip
    faults = (
        stat.Panel().title("Open faults by scope").datasource(PROMETHEUS).span(20).height(5)
        .with_target(promql("A", "sum by (scope) (cablewatch_fault_events_open)",
                            legend="{{scope}}", instant=True))
        .color_mode(mc.BigValueColorMode.BACKGROUND)
        .thresholds(steps((None, GREEN), (1, RED)))
    )  # fmt: skip
    cables = [c.name for c in config.topology.cables]

    def state_of(c: str) -> str:
        return f'max by (region) (cablewatch_path_state{{cable="{c}"}})'

    def median(c: str) -> str:  # every reply of the last minute: the system of record
        return (
            f'SELECT median("rtt_ms") FROM "ping_rtt" WHERE "cable" = \'{c}\' AND '
            '"landing_station" =~ /^$station$/ AND time > now() - 1m GROUP BY "region"'
        )

    def stretch(c: str) -> str:
        last = f'cablewatch_last_round_rtt_seconds{{cable="{c}",stat="median"}}'
        floor = f'cablewatch_path_floor_seconds{{cable="{c}"}}'
        return f"max by (region) ({last}) / on (region) max by (region) ({floor})"

    def loss(c: str) -> str:
        return f'100 * max by (region) (cablewatch_last_round_loss_ratio{{cable="{c}"}})'

    # (title, query, unit, thresholds, extra): one row of the matrix, a column per cable
    rows: list[tuple[str, Callable[[str], str], str, Any, dict[str, Any]]] = [
        ("path state", state_of, "none", steps((None, GREEN), (1, RED), (2, GREY)),
         {"decimals": 0, "mappings": state}),
        ("median RTT, last minute", median, "ms", steps((None, GREEN)), {"influx": True}),
        ("stretch over the floor", stretch, "none", steps(
            (None, GREEN), (lim.stretch_warn, YELLOW), (lim.stretch_bad, RED)), {"decimals": 2}),
        ("loss, last round", loss, "percent", steps(
            (None, GREEN), (lim.loss_warn_pct, YELLOW), (lim.loss_bad_pct, RED)), {}),
    ]  # fmt: skip
    columns = [_column(f"{c}: {title}", query(c), unit, th, **extra)
               for title, query, unit, th, extra in rows for c in cables]  # fmt: skip
    events = (
        table.Panel().title("Open fault events").span(24).height(7)
        .no_value("No fault events in the time range")
        .with_target(influxql(
            "A", 'SELECT "severity", "summary", "regions_named" AS "regions affected", '
            '"regions_healthy" AS "regions healthy", "worst_loss_pct" AS "worst loss %", '
            '"worst_rtt_step_ms" AS "worst RTT step ms" FROM "event" WHERE "state" = \'open\' '
            "AND \"landing_station\" =~ /^$station$/ AND $timeFilter GROUP BY \"scope\", "
            '"subject", "cable"', table=True))
    )  # fmt: skip
    recommended = (
        table.Panel().title("Recommended cable per region, and why").span(24).height(8)
        .with_target(influxql(
            "A", 'SELECT last("cable_name") AS "cable", last("reason") AS "reason", '
            'last("score_ms") AS "score ms" FROM "recommendation" WHERE $timeFilter GROUP BY '
            '"region"', table=True))
    )  # fmt: skip
    ways_back = (
        table.Panel().title("The way back: each path's last return-cable change").span(24)
        .height(6).no_value("Every path comes back over its own cable (no change in range)")
        .with_target(influxql(
            "A", 'SELECT last("return_cable") AS "back over", last("previous") AS "before", '
            'last("summary") AS "summary" FROM "return_path" WHERE "landing_station" =~ '
            '/^$station$/ AND $timeFilter GROUP BY "region", "cable"', table=True))
    )  # fmt: skip
    board = (
        dashboard(UID, "cablewatch: NOC overview", "Every path of the landing station at a "
                  "glance: state, median RTT, stretch over the physics floor, loss; open "
                  "faults, the recommended cable per region, and the way back (the cable "
                  "each path's replies return over, from STAMP).", refresh="10s",
                  span="now-15m")
        .with_panel(station)
        .with_panel(faults)
    )  # fmt: skip
    for panel in columns:
        board = board.with_panel(panel)
    return board.with_panel(events).with_panel(recommended).with_panel(ways_back)
