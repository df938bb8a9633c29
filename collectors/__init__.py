"""Sinks and readers: the InfluxDB writer, the Prometheus exporter and InfluxQL readers.

Empty until the storage pipeline lands (issue 5); the package exists to keep the design card's
top level."""
