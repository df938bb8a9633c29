"""Grafana dashboards as code (grafana-client) and their generated JSON.

Empty until the dashboards land; the package exists to keep the design card's top level."""
