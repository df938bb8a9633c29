"""The read side: every InfluxQL query cablewatch sends to read what the agents and the
evaluator stored, in one place, each answer turned into the records its readers use.

- ``rounds``: what fault detection judges (ICMP rounds, the service path's traces);
- ``minutes``: what the SLA, ``sla status`` and reports count (per-minute figures from the raw
  points or the evaluator's rollups, percentiles over a window);
- ``history``: what reports tell (stored events, recommendation changes).

Measurements are named through their protocol's module (probes/), never as bare strings.
Writing is collectors/influx.py's; the database's set-up is collectors/dbinit.py's."""
