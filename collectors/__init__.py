"""Sinks and readers: the InfluxDB writers and InfluxQL reader, line protocol, the database's
retention policies and rollups, and the agent's Prometheus exporter. Their settings
(``[sinks.*]``) are in collectors/settings.py."""
