"""Every job of a batching protocol on one clock, probed in batches.

A task, a timer and a future per target and round cost more than the packets themselves once
an agent probes thousands of targets a second. A protocol whose spec can probe many targets at
once (``run_many``; ICMP: one pass of packets, one future for the batch) has all its jobs on one
scheduler here: a heap of next due times; each time it wakes (at the earliest due time, at most
every ``tick_s``) it takes every job that is due and probes them together, then records the
batch's results at once.

The schedule is the agent's, unchanged: job i's rounds are due at ``first_i + k x interval``
(drift-free); a round starts at most ``tick_s`` after its due time on an idle loop; a job's
next round is queued only once its round has finished, and a job that finished late skips the
slots it missed (counted, and the lag reported) instead of bursting to catch up.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from cablewatch.probes.result import ProbeResult
from cablewatch.probes.spec import ProbeJob

__all__ = ["Batches", "Probe", "Record"]

Record = Callable[[Sequence[tuple[ProbeJob, ProbeResult]]], Awaitable[None]]
"""Commits a batch's results (returns once they are durable)."""
Probe = Callable[[Sequence[tuple[str, dict[str, str]]]], Awaitable[list[ProbeResult]]]
"""Probes [(address, labels)] at once, with the protocol's settings of the moment: a result
each, in order."""


@dataclass(slots=True)
class _Slot:
    job: ProbeJob
    first: float
    k: int = 0

    @property
    def due(self) -> float:
        return self.first + self.k * self.job.interval_s


class Batches:
    def __init__(
        self,
        jobs: Sequence[tuple[ProbeJob, float]],
        probe: Probe,
        record: Record,
        *,
        lag: Callable[[float], None],
        skipped: Callable[[int], None],
        tick_s: float = 0.01,
    ) -> None:
        """``jobs``: each job with its first due time (loop clock), all of one protocol;
        ``lag`` gets each batch's start lag, ``skipped`` the slots missed."""
        self._slots = [_Slot(job, first) for job, first in jobs]
        self._heap = [(s.due, i) for i, s in enumerate(self._slots)]
        heapq.heapify(self._heap)
        self._probe = probe
        self._record = record
        self._lag = lag
        self._skipped = skipped
        self.tick_s = tick_s
        self._requeued = asyncio.Event()
        self._failed: BaseException | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``; then wait for the batches in flight, which record their rounds.
        A batch that fails (its results could not be recorded) ends the run with its error."""
        loop = asyncio.get_running_loop()
        flying: set[asyncio.Task[None]] = set()

        def landed(task: asyncio.Task[None]) -> None:
            flying.discard(task)
            if not task.cancelled() and task.exception() is not None and self._failed is None:
                self._failed = task.exception()
                self._requeued.set()

        try:
            while not stop.is_set() and self._failed is None:
                now = loop.time()
                due: list[int] = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[1])
                if due:
                    self._lag(max(0.0, now - self._slots[due[0]].due))
                    task = asyncio.create_task(self._batch(due))
                    flying.add(task)
                    task.add_done_callback(landed)
                wait_s = max(self.tick_s, self._heap[0][0] - now) if self._heap else None
                self._requeued.clear()
                stopping = asyncio.ensure_future(stop.wait())
                requeued = asyncio.ensure_future(self._requeued.wait())
                try:
                    await asyncio.wait({stopping, requeued}, timeout=wait_s,
                                       return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                finally:
                    stopping.cancel()
                    requeued.cancel()
        finally:
            if flying:
                await asyncio.gather(*flying, return_exceptions=True)
        if self._failed is not None:
            raise self._failed

    async def _batch(self, due: list[int]) -> None:
        loop = asyncio.get_running_loop()
        slots = [self._slots[i] for i in due]
        results = await self._probe([(slot.job.address, dict(slot.job.labels)) for slot in slots])
        await self._record(list(zip((slot.job for slot in slots), results, strict=True)))
        now = loop.time()
        earliest = self._heap[0][0] if self._heap else float("inf")
        for i, slot in zip(due, slots, strict=True):
            slot.k += 1
            behind = int((now - slot.due) // slot.job.interval_s)
            if behind > 0:
                self._skipped(behind)
                slot.k += behind
            heapq.heappush(self._heap, (slot.due, i))
        if self._heap[0][0] < earliest:
            self._requeued.set()  # the scheduler sleeps past this due time (or has none)
