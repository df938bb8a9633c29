"""The gateway API's source (gateway/api.py's ApiSource): the evaluator's read model
(evaluator/view.py), shaped into the API's bodies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from cablewatch import __version__
from cablewatch.evaluator.view import EvaluatorView
from cablewatch.failover.score import Score
from cablewatch.reports import status
from cablewatch.reports.archive import stored
from cablewatch.reports.period import Period
from cablewatch.reports.produce import produce
from cablewatch.reports.render import Format
from cablewatch.timefmt import utc_iso

__all__ = ["EvaluatorSource"]


def _score(s: Score) -> dict[str, Any]:
    st = s.stats
    return {
        "cable": s.cable,
        "state": st.state if st else "unknown",
        "score_ms": s.score_ms,
        "clean": s.clean,
        "components": s.components,
        "rounds": st.rounds if st else 0,
        "p50_ms": st.p50_ms if st else None,
        "p95_ms": st.p95_ms if st else None,
        "loss_pct": st.loss_pct if st else None,
        "jitter_ms": st.jitter_ms if st else None,
        "floor_ms": round(st.floor_ms, 3) if st else 0.0,
        "stretch": round(st.stretch, 4) if st and st.stretch is not None else None,
    }


class EvaluatorSource:
    def __init__(self, view: EvaluatorView) -> None:
        self.view = view

    @property
    def version(self) -> int:
        return self.view.version

    @property
    def registry(self) -> CollectorRegistry:
        return self.view.registry

    def regions(self) -> Sequence[str]:
        return self.view.regions

    def revision(self) -> object:
        return (self.view.version, self.view.last_poll_s)

    def now_iso(self) -> str:
        return utc_iso(self.view.now())

    def accept_shift(self, region: str, cable: str) -> str | None:
        return self.view.accept_shift(region, cable)

    def recommendation(self, region: str) -> dict[str, Any]:
        rec = self.view.recommendation(region)
        scores = [_score(s) for s in self.view.scores(region)]
        if rec is None:
            return {"region": region, "cable": None, "previous": None, "since": None,
                    "kind": "none", "reason": "no data yet", "version": self.version,
                    "scores": scores}  # fmt: skip
        return {"region": region, "cable": rec.cable, "previous": rec.previous,
                "since": utc_iso(rec.since_s), "kind": rec.kind, "reason": rec.reason,
                "version": self.version, "scores": scores}  # fmt: skip

    def cables(self) -> list[dict[str, Any]]:
        status = self.view.path_states()
        open_events = self.view.open_events()
        out = []
        for cable in self.view.cables:
            mine = {r: s for (r, c), s in status.items() if c == cable}
            bad = sorted(r for r, s in mine.items() if s == "bad")
            unknown = sorted(r for r, s in mine.items() if s == "unknown")
            events = [
                {"id": e.id, "scope": e.scope, "subject": e.subject,
                 "started": utc_iso(e.started_s), "raised": utc_iso(e.raised_s),
                 "regions": e.regions}
                for e in open_events
                if e.cable == cable or e.scope == "station" or any(c == cable for _r, c in e.paths)
            ]  # fmt: skip
            known = len(mine) - len(unknown)
            if not known:
                state = "unknown"
            elif len(bad) == known:
                state = "down"  # it carries nothing: every region with data is bad on it
            else:
                state = "degraded" if bad else "ok"
            out.append({"cable": cable, "status": state, "bad_regions": bad,
                        "unknown_regions": unknown, "events": events})  # fmt: skip
        return out

    def paths(self, region: str, window_rounds: int | None) -> dict[str, Any]:
        n = window_rounds or self.view.window_rounds
        return {"region": region, "window_rounds": n,
                "paths": [_score(s) for s in self.view.scores(region, n)],
                "route": self.view.route(region)}  # fmt: skip

    def health(self) -> dict[str, Any]:
        last = self.view.last_poll_s
        if last is None:
            state = "starting"
        elif self.view.now() - last > 10 * self.view.poll_s + 10:
            state = "stale"
        else:
            state = "ok"
        return {"status": state, "version": __version__, "last_poll": utc_iso(last)}

    # -- customers ---------------------------------------------------------------------------

    def customers(self) -> Sequence[str]:
        return [p.customer for p in self.view.config.slas]

    def status_page(self, customer: str) -> str:
        config = self.view.config
        policy = config.sla(customer)
        states = self.view.path_states()
        regions = {}
        for region in policy.regions:
            rec = self.view.recommendation(region)
            p50 = {s.cable: s.stats.p50_ms if s.stats else None for s in self.view.scores(region)}
            regions[region] = status.RegionNow(
                region, rec.cable if rec else None, rec.reason if rec else "",
                {c: states.get((region, c), "unknown") for c in policy.cables}, p50,
                name=config.topology.region(region).name, kind=rec.kind if rec else "",
                previous=rec.previous if rec else None, since_s=rec.since_s if rec else None,
                holddown_s=config.failover.holddown_s,
            )  # fmt: skip
        incidents = [status.OpenIncident(e.scope, e.subject, e.cable, e.started_s,
                                         tuple(e.regions))
                     for e in self.view.open_events()]  # fmt: skip
        return status.page(policy, config.topology.landing_station.name, self.view.now(),
                           regions, incidents, self.view.minutes(), config.maintenance)  # fmt: skip

    async def report(self, customer: str, period: Period, fmt: Format) -> bytes:
        """A closed month as stored when it closed (reports/archive.py); else made now."""
        now = self.view.now()
        kept = stored(self.view.config, customer, period, fmt, now)
        if kept is not None:
            return kept
        _report, body = await produce(self.view.config, customer, period, fmt, ql=self.view.ql,
                                      now_s=now)  # fmt: skip
        return body
