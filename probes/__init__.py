"""Probes: one protocol a file (icmp, tcp, http, dns); each returns a ProbeResult and writes
nowhere. Moving results on (spool, sinks) is the pipeline's job, not a probe's."""

from __future__ import annotations

from cablewatch.probes.result import ProbeResult, Status
from cablewatch.probes.stats import RttSummary, summarize

__all__ = ["ProbeResult", "RttSummary", "Status", "summarize"]
