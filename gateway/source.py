"""The gateway API's view of a running evaluator (gateway/api.py's ApiSource)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from cablewatch.evaluator.runner import Evaluator, utc_iso
from cablewatch.failover.score import Score

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
    def __init__(self, evaluator: Evaluator) -> None:
        self.ev = evaluator

    @property
    def version(self) -> int:
        return self.ev.failover.version

    @property
    def registry(self) -> CollectorRegistry:
        return self.ev.metrics.registry

    def regions(self) -> Sequence[str]:
        return [r.id for r in self.ev.topology.regions]

    def revision(self) -> object:
        return (self.ev.failover.version, self.ev.last_poll_s)

    def now_iso(self) -> str:
        return utc_iso(self.ev.clock()) or ""

    def recommendation(self, region: str) -> dict[str, Any]:
        rec = self.ev.failover.current(region)
        status = self.ev.status(self.ev.clock())
        scores = [_score(s) for s in self.ev.scores(region, status)]
        if rec is None:
            return {"region": region, "cable": None, "previous": None, "since": None,
                    "kind": "none", "reason": "no data yet", "version": self.version,
                    "scores": scores}  # fmt: skip
        return {"region": region, "cable": rec.cable, "previous": rec.previous,
                "since": utc_iso(rec.since_s), "kind": rec.kind, "reason": rec.reason,
                "version": self.version, "scores": scores}  # fmt: skip

    def cables(self) -> list[dict[str, Any]]:
        status = self.ev.status(self.ev.clock())
        out = []
        for cable in self.ev.topology.cables:
            mine = {r: s for (r, c), s in status.items() if c == cable.name}
            bad = sorted(r for r, s in mine.items() if s == "bad")
            unknown = sorted(r for r, s in mine.items() if s == "unknown")
            events = [
                {"id": rec.event.id, "scope": rec.event.scope, "subject": rec.event.subject,
                 "started": utc_iso(rec.start_s) or "", "raised": utc_iso(rec.event.raised_s),
                 "regions": sorted({r for r, _c in rec.event.seen_paths})}
                for rec in self.ev.records.values()
                if rec.event.cable == cable.name or rec.event.scope == "station"
                or any(c == cable.name for _r, c in rec.event.seen_paths)
            ]  # fmt: skip
            if not mine or len(unknown) == len(mine):
                state = "unknown"
            elif any(e["scope"] in ("cable", "station") for e in events):
                state = "down"
            else:
                state = "degraded" if bad else "ok"
            out.append({"cable": cable.name, "status": state, "bad_regions": bad,
                        "unknown_regions": unknown, "events": events})  # fmt: skip
        return out

    def paths(self, region: str, window_rounds: int | None) -> dict[str, Any]:
        status = self.ev.status(self.ev.clock())
        n = window_rounds or self.ev.topology.failover.window_rounds
        return {"region": region, "window_rounds": n,
                "paths": [_score(s) for s in self.ev.scores(region, status, n)]}  # fmt: skip

    def health(self) -> dict[str, Any]:
        last = self.ev.last_poll_s
        if last is None:
            state = "starting"
        elif self.ev.clock() - last > 10 * self.ev.topology.evaluator.poll_s + 10:
            state = "stale"
        else:
            state = "ok"
        from cablewatch import __version__

        return {"status": state, "version": __version__, "last_poll": utc_iso(last)}
