"""Alerting: Prometheus rules generated from the SLA policies, and the Alertmanager v2 client
that raises and resolves the correlation's fault events."""
