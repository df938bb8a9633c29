"""Grafana dashboards as code (grafana-foundation-sdk): the NOC overview, one path, one
cable, one customer's SLA, the agents. Built from the configuration (dashboards/build.py),
checked offline (dashboards/check.py); the JSON is committed in deploy/grafana/dashboards/."""

import warnings

with warnings.catch_warnings():
    # The SDK's v1 dashboard model warns when it is imported ("prefer dashboardv2"); the v1
    # schema is the one Grafana 10-12 import and the one ../shared/grafana-jsonschema checks.
    warnings.simplefilter("ignore", DeprecationWarning)
    import grafana_foundation_sdk.builders.common
    import grafana_foundation_sdk.builders.dashboard
    import grafana_foundation_sdk.builders.heatmap
    import grafana_foundation_sdk.builders.prometheus
    import grafana_foundation_sdk.builders.stat
    import grafana_foundation_sdk.builders.table
    import grafana_foundation_sdk.builders.timeseries
    import grafana_foundation_sdk.models.dashboard  # noqa: F401
