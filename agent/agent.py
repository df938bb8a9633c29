"""The probe agent: one process per region probe host.

Schedules every (target, protocol) of its region continuously, each at its own interval,
staggered evenly across the interval so that probes do not burst. Start times are drift-free
(``start + k x interval``); an agent that falls behind skips the missed slots, counts them and
reports the lag. Each result is committed to the spool (one dedicated thread does all SQLite
work) and observed by the Prometheus exporter; the sender (agent/sender.py) moves spooled
points to the sink; probing never waits for it. SIGTERM: stop scheduling, let the probes
in flight finish, try to drain the spool for a few seconds, exit. What is not sent stays in the
spool for the next start.

SIGHUP re-reads the configuration file (config/reload.py): the region's targets and probe
settings change between two rounds; the probes in flight finish and are recorded once, the
spool and the sender carry on. A file that does not load is refused with one log line, and
the agent keeps probing as it was.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import gc
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cablewatch.agent.batches import Batches, Probe
from cablewatch.agent.behind import Behind
from cablewatch.agent.sender import Sender, SenderOptions
from cablewatch.agent.shards import Shard, shard_jobs
from cablewatch.agent.spool import Spool
from cablewatch.aio import first_of, signal_event, stop_on_signals
from cablewatch.bus.publish import BACKOFF_MAX_S, BUS_BATCH_BYTES, BusPublisher
from cablewatch.collectors.exporter import AgentMetrics
from cablewatch.collectors.influx import Writer, writer_for
from cablewatch.collectors.lineprotocol import result_lines
from cablewatch.config import Config
from cablewatch.config.reload import reread
from cablewatch.probes.jobs import region_jobs, run_job
from cablewatch.probes.registry import spec
from cablewatch.probes.result import ProbeResult
from cablewatch.probes.spec import ProbeContext, ProbeJob

__all__ = ["Agent", "AgentOptions"]

log = logging.getLogger("cablewatch.agent")
_COMMIT_EVERY_S = 0.05
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AgentOptions:
    region: str
    spool_path: Path
    host: str
    spool_max_bytes: int = 256 * 1024 * 1024
    sender: SenderOptions = field(default_factory=SenderOptions)
    shard: Shard | None = None
    """Probe only this shard's targets (agent/shards.py); None: every target."""


class Agent:
    def __init__(
        self,
        config: Config,
        opts: AgentOptions,
        writer: Writer | None,
        metrics: AgentMetrics | None = None,
    ) -> None:
        self.config = config
        self.opts = opts
        self.writer = writer
        self.metrics = metrics or AgentMetrics()
        self.jobs = self._jobs(config)
        self.spool = Spool(opts.spool_path, max_bytes=opts.spool_max_bytes, owner=True)
        self._db_thread = concurrent.futures.ThreadPoolExecutor(1, "cablewatch-spool")
        self.sender = (
            Sender(self.spool, self._db, writer, self.metrics, opts.sender)
            if writer is not None
            else None
        )
        self.rounds_made = 0
        self._commits: list[tuple[list[tuple[str, list[str]]], asyncio.Future[None]]] = []
        self._commit_wanted = asyncio.Event()
        self._behind = Behind()

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, fn, *args)

    async def run(self, stop: asyncio.Event, reload: asyncio.Event | None = None) -> None:
        """Until ``stop``; each time ``reload`` is set, re-read the configuration file."""
        shard = "" if self.opts.shard is None else " shard {} of {}".format(*self.opts.shard)
        log.info(
            "agent %s (%s)%s: %d probe jobs; spool %s holds %d points",
            self.opts.region, self.opts.host, shard, len(self.jobs), self.opts.spool_path,
            self.spool.depth().points,
        )  # fmt: skip
        reload = reload or asyncio.Event()
        probes_done = asyncio.Event()
        sending = (
            asyncio.create_task(self.sender.run(probes_done), name="sender")
            if self.sender is not None
            else None
        )
        committing = asyncio.create_task(self._committer(), name="spool commits")
        async with ProbeContext(topology=self.config.topology) as ctx:
            for protocol in sorted({job.protocol for job in self.jobs}):
                if (start := spec(protocol).start) is not None:
                    log.info("%s", start(ctx))  # a missing privilege is said now
            halt, probes = self._start(ctx)
            while await first_of(stop, reload) is reload:
                reload.clear()
                new = self._reread()
                if new is None:
                    continue
                halt.set()
                await asyncio.gather(*probes)  # each finishes (and records) its probe in flight
                self.config, self.jobs = new
                ctx.topology = self.config.topology
                halt, probes = self._start(ctx)
            halt.set()
            await asyncio.gather(*probes)
        committing.cancel()  # every probe has recorded its round: nothing is waiting
        await asyncio.gather(committing, return_exceptions=True)
        probes_done.set()  # only now may the sender drain the spool and stop
        if self.sender is not None and sending is not None:
            self.sender.new_data.set()
            await sending
        self._db_thread.shutdown(wait=True)
        depth = self.spool.depth()
        self.spool.close()
        log.info("agent %s stopped: %d rounds made, %d points left in the spool",
                 self.opts.region, self.rounds_made, depth.points)  # fmt: skip

    def _start(self, ctx: ProbeContext) -> tuple[asyncio.Event, list[asyncio.Task[None]]]:
        """Schedule every job, staggered across its interval from now; the event ends them.
        The jobs of a protocol that probes many targets at once share one scheduler that
        probes whatever is due together (agent/batches.py); every other job has its own."""
        halt = asyncio.Event()
        start = asyncio.get_running_loop().time()
        n = len(self.jobs)
        batched: dict[str, list[tuple[ProbeJob, float]]] = {}
        tasks = []
        for i, job in enumerate(self.jobs):
            first = start + i * job.interval_s / n
            if spec(job.protocol).run_many is not None:
                batched.setdefault(job.protocol, []).append((job, first))
            else:
                tasks.append(asyncio.create_task(self._schedule(job, ctx, first, halt)))
        for protocol, jobs in batched.items():
            batches = Batches(jobs, self._batch_probe(ctx, protocol), self._record_many,
                              lag=self.metrics.schedule_lag.set, skipped=self._skipped)  # fmt: skip
            tasks.append(asyncio.create_task(batches.run(halt), name=f"{protocol} batches"))
        return halt, tasks

    def _batch_probe(self, ctx: ProbeContext, protocol: str) -> Probe:
        """Probes a batch with the protocol's settings of the moment (a reload changes them)."""
        run_many = spec(protocol).run_many
        assert run_many is not None  # only a batching protocol's jobs come here
        return lambda targets: run_many(ctx, targets, self.config.probe.protocols[protocol])

    def _jobs(self, config: Config) -> list[ProbeJob]:
        """This agent's jobs under ``config``: its region's, of its shard."""
        return shard_jobs(region_jobs(config.topology, config.probe, self.opts.region),
                          self.opts.shard)  # fmt: skip

    def _reread(self) -> tuple[Config, list[ProbeJob]] | None:
        """The configuration file again and this region's jobs under it; None if refused."""
        got = reread(self.config, "agent", log, self._jobs)
        if got is None:
            return None
        change, jobs = got
        log.warning("reloaded %s: %d probe jobs (were %d)", change.config.source, len(jobs),
                    len(self.jobs))  # fmt: skip
        return change.config, jobs

    async def _schedule(
        self, job: ProbeJob, ctx: ProbeContext, first: float, stop: asyncio.Event
    ) -> None:
        loop = asyncio.get_running_loop()
        k = 0
        while not stop.is_set():
            due = first + k * job.interval_s
            delay = due - loop.time()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    return
                except TimeoutError:
                    pass
            self.metrics.schedule_lag.set(max(0.0, loop.time() - due))
            result = await run_job(job, ctx, self.config.probe)
            await self._record(job, result)
            k += 1
            behind = int((loop.time() - (first + k * job.interval_s)) // job.interval_s)
            if behind > 0:
                self._skipped(behind)
                k += behind

    def _skipped(self, n: int) -> None:
        self.metrics.skipped.inc(n)
        line = self._behind.skipped(n, asyncio.get_running_loop().time(), len(self.jobs))
        if line is not None:
            log.warning("agent %s %s", self.opts.region, line)

    async def _record(self, job: ProbeJob, result: ProbeResult) -> None:
        await self._record_many([(job, result)])

    async def _record_many(self, rounds: Sequence[tuple[ProbeJob, ProbeResult]]) -> None:
        """Commit the rounds to the spool (returns once they are durable), then count them."""
        host = self.opts.host
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._commits.append(([(job.series, result_lines(result, host)) for job, result in rounds],
                              done))  # fmt: skip
        self._commit_wanted.set()
        await done
        self.rounds_made += len(rounds)
        for _job, result in rounds:
            self.metrics.observe(result)
        if self.sender is not None:
            self.sender.new_data.set()

    async def _committer(self) -> None:
        """Group commit: every round that arrives while one commit runs goes into the next,
        one transaction (one fsync) for all of them. At 10,000 targets a round a second each,
        a transaction per round would be 10,000 fsyncs a second. Commits start at most every
        ``_COMMIT_EVERY_S``: at 100 targets, a commit per round (an fsync each) was most of
        the agent's CPU; a round waits at most that long to be durable (its packets took
        longer)."""
        loop = asyncio.get_running_loop()
        while True:
            await self._commit_wanted.wait()
            started = loop.time()
            self._commit_wanted.clear()
            group, self._commits = self._commits, []
            if not group:
                continue
            try:
                dropped = await self._db(self.spool.add, [r for rs, _done in group for r in rs])
            except BaseException as exc:
                for _r, done in group:
                    if not done.done():
                        done.set_exception(exc)
                raise
            if dropped:
                log.warning("spool full (%d bytes): dropped the %d oldest points",
                            self.opts.spool_max_bytes, dropped)  # fmt: skip
            for _r, done in group:
                if not done.done():
                    done.set_result(None)
            await asyncio.sleep(started + _COMMIT_EVERY_S - loop.time())


def _tune_gc() -> None:
    """Fewer cyclic collections. A round allocates a few dozen short-lived objects (packets,
    pending entries, results, lines), none in cycles; at the default gen-0 threshold (700) the
    collector ran ~80 times a second at 5,000 targets and took ~9 % of the agent's CPU (1.67 s
    in 19 s), mostly re-scanning the long-lived objects (histograms, metric children). Those
    are frozen out of the scans once set up, and gen 0 waits for 50,000 allocations."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)


async def serve(config: Config, opts: AgentOptions, listen: tuple[str, int] | None) -> None:
    """Run an agent until SIGTERM / SIGINT: sink from the configuration, exporter on
    ``listen``. Configuration problems (a missing secret) raise before any probing starts."""
    sink = config.sinks.influxdb
    writer: Writer | None = None
    if config.bus is not None:  # the bus's ingest writes InfluxDB
        writer = BusPublisher(config.bus, station=config.topology.landing_station.id,
                              region=opts.region, host=opts.host)  # fmt: skip
        sending = dataclasses.replace(
            opts.sender, keyed=True, batch_bytes=BUS_BATCH_BYTES, backoff_max_s=BACKOFF_MAX_S,
            flush_interval_s=sink.flush_interval_s if sink is not None else 1.0,
        )  # fmt: skip
        opts = dataclasses.replace(opts, sender=sending)
    elif sink is not None:
        writer = writer_for(sink)
        sending = dataclasses.replace(
            opts.sender, flush_interval_s=sink.flush_interval_s,
            backfill_after_s=sink.backfill_after_s,
            origin=(("host", opts.host), ("region", opts.region)),
        )  # fmt: skip
        opts = dataclasses.replace(opts, sender=sending)
    floors = {(r.id, c): p.floor_rtt_ms for r in config.topology.regions
              for c, p in r.paths.items()}  # fmt: skip
    metrics = AgentMetrics(floors_ms=floors)
    agent = Agent(config, opts, writer, metrics)  # owns the spool, or says who does
    if listen is not None:
        metrics.serve(*listen)
        log.info("metrics on http://%s:%d/metrics", *listen)
    stop = stop_on_signals()
    _tune_gc()
    try:
        await agent.run(stop, signal_event(signal.SIGHUP))
    finally:
        if writer is not None:
            await writer.close()
