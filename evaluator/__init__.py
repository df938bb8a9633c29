"""The evaluator: reads the system of record (InfluxDB), runs fault detection and the SLA
evaluation, writes events and SLA status back, posts alerts, exports Prometheus metrics."""
