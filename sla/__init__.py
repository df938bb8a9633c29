"""SLA policies and their evaluation: bad minutes, availability, error budgets, burn rates.

Pure functions over per-minute measurements; see :mod:`cablewatch.sla.evaluate`.
"""
