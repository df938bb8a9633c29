"""One customer's SLA (variable customer): availability and error budget left per region,
burn rates against their alert thresholds, bad minutes over time, RTT p95 against the
objective. From what the evaluator writes back (measurement ``sla``, metrics
``cablewatch_sla_*``): the same figures as ``cablewatch sla status``."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common as mc

from cablewatch.config import Config
from cablewatch.dashboards.common import GREEN, RED, YELLOW, dashboard, legend_table, steps
from cablewatch.dashboards.common import tag_variable as tags
from cablewatch.dashboards.queries import PROMETHEUS, influxql, promql
from cablewatch.sla.policy import BURN_ALERTS

__all__ = ["UID", "build"]

UID = "cablewatch-sla"
_WHERE = "\"customer\" = '$customer' AND \"cable\" = 'any' AND $timeFilter"


def build(config: Config) -> Any:
    objective = min((p.availability_pct for p in config.slas), default=99.9)
    availability = _per_region(
        "Availability per region (best cable)",
        "availability_pct",
        steps((None, RED), (objective, GREEN)),
        decimals=3,
    )
    budget = _per_region(
        "Error budget left", "budget_left_pct", steps((None, RED), (25, YELLOW), (50, GREEN))
    )
    status = (
        table.Panel().title("Now, per region (best cable)").span(24).height(8)
        .with_target(influxql("A", 'SELECT last("availability_pct") AS "availability %", '
                                   'last("budget_left_pct") AS "budget left %", '
                                   'last("bad_minutes") AS "bad minutes", '
                                   'last("nodata_minutes") AS "no-data minutes", '
                                   'last("rtt_p95_ms") AS "RTT p95 ms", '
                                   'last("loss_pct") AS "loss %", '
                                   'last("ttft_p95_ms") AS "TTFT p95 ms", '
                                   'last("ongoing") AS "minute in progress" FROM "sla" WHERE '
                                   f'{_WHERE} GROUP BY "region"', table=True))
    )  # fmt: skip
    fast = BURN_ALERTS[0]
    burn = (
        timeseries.Panel().title("Error budget burn rate (1 = spent exactly over the period)")
        .datasource(PROMETHEUS).span(24).height(8).legend(legend_table())
        .with_target(promql("A", 'cablewatch_sla_burn_rate{customer="$customer",cable="any"}',
                            legend="{{region}} {{window}}"))
        .thresholds(steps(*[(None, GREEN)] + [(a.rate, YELLOW if a.severity == "warning"
                                                else RED) for a in sorted(
                                                    BURN_ALERTS, key=lambda a: a.rate)]))
        .thresholds_style(_lines())
    )  # fmt: skip
    bad = (
        timeseries.Panel().title("Bad minutes in the period").span(12).height(8)
        .legend(legend_table())
        .with_target(influxql("A", 'SELECT last("bad_minutes") FROM "sla" WHERE '
                                   f'{_WHERE} GROUP BY time($__interval), "region" '
                                   "fill(previous)"))
    )  # fmt: skip
    rtt = (
        timeseries.Panel().title("RTT p95 against the objective").span(12).height(8)
        .unit("ms").legend(legend_table())
        .with_target(influxql("A", 'SELECT last("rtt_p95_ms") FROM "sla" WHERE '
                                   f'{_WHERE} GROUP BY time($__interval), "region" '
                                   "fill(previous)"))
        .thresholds(steps((None, GREEN),
                          (min((p.rtt_p95_ms for p in config.slas), default=100.0), RED)))
        .thresholds_style(_lines())
    )  # fmt: skip
    return (
        dashboard(UID, "cablewatch: SLA", "One customer's SLA: availability and error budget "
                  "per region, burn rates against their alert thresholds (fast: "
                  f"{fast.rate:g}), bad minutes, RTT p95.", span="now-24h")
        .with_variable(tags("customer", "Customer", "sla", "customer"))
        .with_panel(availability)
        .with_panel(budget)
        .with_panel(status)
        .with_panel(burn)
        .with_panel(bad)
        .with_panel(rtt)
    )  # fmt: skip


def _per_region(title: str, field: str, thresholds: Any, decimals: int = 1) -> Any:
    return (
        stat.Panel().title(title).span(12).height(8).unit("percent").decimals(decimals)
        .with_target(influxql("A", f'SELECT last("{field}") FROM "sla" WHERE {_WHERE} '
                                   'GROUP BY "region"'))
        .thresholds(thresholds).color_mode(mc.BigValueColorMode.BACKGROUND)
        .graph_mode(mc.BigValueGraphMode.NONE).text_mode(mc.BigValueTextMode.VALUE_AND_NAME)
    )  # fmt: skip


def _lines() -> Any:
    from grafana_foundation_sdk.builders import common as gcommon
    from grafana_foundation_sdk.models import common as mc

    return gcommon.GraphThresholdsStyleConfig().mode(mc.GraphThresholdsStyleMode.LINE)
