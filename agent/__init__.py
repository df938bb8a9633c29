"""The probe agent: schedules a region's probes, commits every result to the durable spool,
and sends spooled points to the sink (agent.py, spool.py, sender.py)."""
