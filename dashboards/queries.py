"""Queries of the dashboards: an InfluxQL query type of our own (grafana-foundation-sdk has
none) and Prometheus queries with their refIds set.

InfluxDB (InfluxQL, the system of record) and Prometheus are both data sources; panels name
them through the dashboard variables ``$influxdb`` and ``$prometheus``.
"""

from __future__ import annotations

from typing import Any, Literal

from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.common import DataSourceRef

__all__ = ["INFLUX", "PROMETHEUS", "InfluxQL", "influxql", "promql"]

INFLUX = DataSourceRef(type_val="influxdb", uid="${influxdb}")
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="${prometheus}")


class InfluxQLQuery(cogvariants.Dataquery):
    """A raw InfluxQL target: ``{"refId", "query", "rawQuery": true, "resultFormat"}``."""

    def __init__(self, ref_id: str, query: str, result_format: str, alias: str = "") -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"refId": self.ref_id, "datasource": INFLUX.to_json(),
                                  "query": self.query, "rawQuery": True,
                                  "resultFormat": self.result_format}  # fmt: skip
        if self.alias:
            out["alias"] = self.alias  # Grafana's patterns: $tag_<key>, $col, $m
        return out


class InfluxQL(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(
        self, ref_id: str, query: str, result_format: Literal["time_series", "table"],
        alias: str = "",
    ) -> None:  # fmt: skip
        self._query = InfluxQLQuery(ref_id, query, result_format, alias)

    def build(self) -> cogvariants.Dataquery:
        return self._query


def influxql(ref_id: str, query: str, *, table: bool = False, alias: str = "") -> InfluxQL:
    return InfluxQL(ref_id, query, "table" if table else "time_series", alias)


def promql(ref_id: str, expr: str, *, legend: str = "", instant: bool = False,
           heatmap: bool = False) -> Any:  # fmt: skip
    q = prometheus.Dataquery().ref_id(ref_id).expr(expr).datasource(PROMETHEUS)
    if legend:
        q = q.legend_format(legend)
    if instant:
        q = q.instant()
    if heatmap:
        from grafana_foundation_sdk.models.prometheus import PromQueryFormat

        q = q.format(PromQueryFormat.HEATMAP)
    return q
