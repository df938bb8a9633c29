"""Probes: one protocol a file (icmp, tcp, http, dns), each described by one ProbeSpec in the
registry (probes/registry.py). A probe returns a ProbeResult and writes nowhere: moving
results on (spool, sinks) is the agent's job (cablewatch.agent), not a probe's."""

from __future__ import annotations

from cablewatch.probes.result import ProbeResult, Status
from cablewatch.probes.stats import RttSummary, summarize

__all__ = ["ProbeResult", "RttSummary", "Status", "summarize"]
