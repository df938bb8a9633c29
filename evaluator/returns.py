"""The way back, watched: the return cable STAMP rounds name, confirmed per path
(correlation/returns.py), a ``return_path`` point for each confirmed change, and one info
event per region while any of its paths comes back over another cable (alert
``CablewatchAsymmetricReturn``, subject "singapore back over SJC": "singapore: out over ADC,
back over SJC"). Paths joining or leaving while the way back stays on the same cable(s) update
the alert (posted again with the new summary); the event is replaced when the return cables
change (its labels name them, so Alertmanager sees one alert resolved and another), and
resolved when every path is back over its own cable.

After a restart the tracker learns each path's return from recent rounds and a region still
asymmetric gets its event again (the same labels: the same alert in Alertmanager)."""

from __future__ import annotations

import logging

from cablewatch.collectors.influx import InfluxQL
from cablewatch.collectors.read.rounds import return_cables
from cablewatch.config import Config
from cablewatch.correlation.events import Event
from cablewatch.correlation.returns import ReturnChange, ReturnTracker, describe
from cablewatch.evaluator.outbox import EventRecord, Outbox
from cablewatch.evaluator.points import return_line
from cablewatch.evaluator.settings import tracker_window_ns
from cablewatch.probes import stamp

__all__ = ["ReturnWatch"]

log = logging.getLogger("cablewatch.evaluator")


class ReturnWatch:
    def __init__(self, config: Config, ql: InfluxQL, outbox: Outbox) -> None:
        self.config, self.ql, self.outbox = config, ql, outbox
        self.tracker = ReturnTracker(config.evaluator.route_confirm_traces)
        self.events: dict[str, EventRecord] = {}
        """Open asymmetric-return events, by region."""
        self._seen_s: dict[tuple[str, str], float] = {}
        self._dirty: set[str] = set()

    async def _new(self, now_s: float) -> list[ReturnChange]:
        changes = []
        interval = self.config.probe.protocols[stamp.SPEC.protocol].interval_s
        for seen in await return_cables(self.ql, tracker_window_ns(now_s, interval)):
            key = (seen.region, seen.cable)
            if seen.time_s <= self._seen_s.get(key, 0.0):
                continue
            self._seen_s[key] = seen.time_s
            change = self.tracker.observe(seen)
            if change is not None:
                changes.append(change)
                self._dirty.add(seen.region)
        return changes

    async def learn(self, now_s: float) -> None:
        """Learn each path's return cable from recent rounds; raised at the next update."""
        await self._new(now_s)

    async def update(self, now_s: float) -> None:
        """Read new rounds; write each confirmed change; open, replace or resolve events."""
        station = self.config.topology.landing_station.id
        for change in await self._new(now_s):
            if change.before is not None or change.after != change.cable:
                # (a path first heard of coming back over its own cable is no news)
                self.outbox.queue(return_line(change, station))
        for region in sorted(self._dirty):
            self._event(region, now_s)
        self._dirty.clear()

    def _event(self, region: str, now_s: float) -> None:
        want = self.tracker.asymmetric(region)
        old = self.events.get(region)
        if old is not None and old.evidence.get("returns") == want:
            return
        text = describe(region, want)
        back = "+".join(sorted(set(want.values())))
        if old is not None and old.event.cable == back:
            # more or fewer paths back over the same cable(s): the same alert, said again
            old.event.note = text
            old.evidence = old.evidence | {"summary": text, "returns": want}
            self.outbox.changed(old)
            log.warning("return %s", text)
            return
        if old is not None:
            old.event.resolved_s = now_s
            self.outbox.closed(old.event.id, old.evidence | {"resolved_by": text})
            del self.events[region]
            log.warning("resolved return %s (now: %s)", old.event.note, text)
        if not want:
            return
        event = Event("return", f"{region} back over {back}", back, region, now_s,
                      raised_s=now_s, severity="info", note=text)  # fmt: skip
        rec = EventRecord(event, now_s, {"summary": text, "returns": want})
        self.outbox.opened(rec)
        self.events[region] = rec
        log.warning("raised return %s", text)
