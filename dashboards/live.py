"""Run a dashboard's queries against the live data sources, the way Grafana would: InfluxQL on
InfluxDB's ``/query``, PromQL on Prometheus' query API (instant or range), with the variables
expanded (dashboards/check.py's ``expand``). Used by the tests that prove every panel returns
data, and by anything that draws a panel without Grafana."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from cablewatch.dashboards.check import expand

__all__ = ["Answer", "Sources", "run"]


@dataclass(frozen=True, slots=True)
class Sources:
    influx_url: str
    database: str
    prometheus_url: str


@dataclass
class Answer:
    error: str = ""
    series: list[dict[str, Any]] = field(default_factory=list)
    """InfluxDB: its series (name, tags, columns, values); Prometheus: its result list."""


def run(
    lang: str, text: str, src: Sources, values: Mapping[str, str], *, start_s: float,
    end_s: float, interval_s: int = 15, instant: bool = False,
) -> Answer:  # fmt: skip
    """One query over [start_s, end_s]; an error is an answer, not an exception."""
    query = expand(text, values, start_ns=int(start_s * 1e9), end_ns=int(end_s * 1e9),
                   interval_s=interval_s)  # fmt: skip
    try:
        if lang == "influxql":
            r = httpx.post(f"{src.influx_url}/query", data={"db": src.database, "q": query,
                                                            "epoch": "ms"}, timeout=30)  # fmt: skip
            body = r.json()
            if r.status_code != 200 or "error" in body:
                return Answer(error=str(body.get("error", r.text))[:300])
            results = body.get("results", [{}])
            errors = [x["error"] for x in results if "error" in x]
            if errors:
                return Answer(error=errors[0])
            return Answer(series=[s for x in results for s in x.get("series", [])])
        if instant:
            r = httpx.get(f"{src.prometheus_url}/api/v1/query",
                          params={"query": query, "time": end_s}, timeout=30)  # fmt: skip
        else:
            r = httpx.get(f"{src.prometheus_url}/api/v1/query_range",
                          params={"query": query, "start": start_s, "end": end_s,
                                  "step": interval_s}, timeout=30)  # fmt: skip
        body = r.json()
        if body.get("status") != "success":
            return Answer(error=str(body.get("error", r.text))[:300])
        return Answer(series=list(body["data"]["result"]))
    except (httpx.HTTPError, ValueError) as exc:
        return Answer(error=f"{type(exc).__name__}: {exc}")
