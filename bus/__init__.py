"""The message bus past one machine: NATS JetStream between the agents and the evaluators
(settings.py: ``[bus]``; client.py: the connection, the stream and the consumer; publish.py:
the agents' writer; ingest.py: ``cablewatch ingest``, the stream into InfluxDB)."""
