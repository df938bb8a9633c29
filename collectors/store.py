"""Storing a batch of rounds in InfluxDB, and noting the late ones.

A batch holding rounds that started longer ago than ``backfill_after_s`` (a spool or a bus
draining after an outage) is followed, once stored, by a ``backfill`` note of their span,
tagged with the agent that measured them: the evaluator rolls those minutes up again. A note
never points at rounds a reader cannot see yet. Used by the agent's sender (writing InfluxDB
itself) and by ``cablewatch ingest`` (writing what the agents published on the bus: several
agents' batches in one write, then each agent's note).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from cablewatch.collectors.influx import Writer
from cablewatch.collectors.lineprotocol import backfill_line, round_start_ns
from cablewatch.errors import SinkError

__all__ = ["store"]

Origin = Mapping[str, str]
"""An agent's tags for its note: host and region."""


async def store(writer: Writer, batches: Sequence[tuple[Origin, list[str]]],
                backfill_after_s: float) -> None:  # fmt: skip
    """Write every batch's chunks (each a round's lines) in one request; then, for each
    agent whose rounds were late, the note of their span. A failure of either raises (the
    caller sends both again); a ``partial`` write still notes what was kept."""
    late_before = time.time_ns() - int(backfill_after_s * 1e9)
    notes: list[str] = []
    for origin, chunks in batches:
        # rounds are spooled as they finish: when the first is fresh, so are the others
        if chunks and round_start_ns(chunks[0]) < late_before:
            late = [t for c in chunks if (t := round_start_ns(c)) < late_before]
            notes.append(backfill_line(dict(origin), min(late), max(late) + 1, len(late),
                                       time.time_ns()))  # fmt: skip
    try:
        await writer.write([c for _origin, chunks in batches for c in chunks])
    except SinkError as exc:
        if exc.kind == "partial" and notes:  # what was kept of the late rounds is noted
            await writer.write(notes)
        raise
    if notes:
        await writer.write(notes)
