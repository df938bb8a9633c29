"""The harness for tests, benchmarks and the demo: the central stack started from Debian's
packages on loopback (InfluxDB, Prometheus, Alertmanager, VictoriaMetrics; stack.py), agents and
the evaluator as processes, the closed loop (loop.py), the high-availability scenario (ha.py)
and a webhook receiver (receiver.py). Not part of the product: it is left out of the wheel,
and nothing in the package imports it (tests/layers.py)."""
