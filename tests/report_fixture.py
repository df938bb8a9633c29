"""A day of known minutes for two regions and two cables, with events, switches and a
maintenance window, and every figure of its report computed by hand (below, in EXPECTED).

Day: midnight UTC three days ago (T0), minutes 0..1439 (recent enough for the evaluator's
30-day SLA window, which writes the rollups the reports read); policy 'acme': singapore and
jakarta over ADC and SJC, objective 99.5 %, RTT p95 <= 80 ms, loss <= 1 %, bad above 5 % loss
or 120 ms median, credit tiers below 99.9 % -> 10 %, below 99 % -> 25 %.

singapore
  ADC: 60 packets a minute, median 30 ms, p95 35, jitter 1.0; minutes 100-129 lose every packet.
  SJC: median 40, p95 45, jitter 2.0; minutes 110-119 no data (the agent fell behind).
  -> region: minutes 110-119 bad (ADC lost all, SJC no data), the rest good:
     good 1430, bad 10, availability 1430/1440 = 99.30556 % (< 99.5: missed; < 99.9: 10 %),
     budget 0.005 x 1440 = 7.2 min, used 10 / 7.2 = 138.889 %;
     RTT over every reply of the best cable (sketches merged, within 0.1 %): 1410 ADC minutes
     of 56 x 30 + 4 x 35 and 20 SJC minutes of 56 x 40 + 4 x 45 (85,800 replies, ranks
     78,960 / 84,600 / 85,720 / 85,800 where 30 / 35 / 40 / 45 end): p50 30, p95 (rank
     81,510) 35, p99 (rank 84,942) 40,
     loss 600 / 86400 = 0.69444 %, jitter (1410 x 1 + 20 x 2) / 1430 = 1.013986.
  ADC alone: good 1410, bad 30 -> 97.91667 %; SJC alone: good 1430, no data 10 -> 100 %.
jakarta
  no data on either cable for minutes 0-59; a region maintenance window 10:00-12:00 (minutes
  600-719) during which both cables lose everything; ADC's median is 150 ms (bad) in minutes
  800-804, SJC good. ADC median 32 / p95 37 / jitter 1.0; SJC 41 / 46 / 2.0.
  -> region: no data 60, excluded 120, good 1260, bad 0: 100 %, met, no credit;
     RTT: 1255 ADC minutes of 56 x 32 + 4 x 37, 5 SJC minutes of 56 x 41 + 4 x 46 (75,600
     replies; 32 ends at rank 70,280, 37 at 75,300): p50 32, p95 (rank 71,820) 37, p99 (rank
     74,844) 37; loss 0 %, jitter (1255 + 10) / 1260 = 1.003968.
customer: missed (singapore), credit 10 %.

Events: cable ADC (subject ADC) from 01:40:05 to 02:10:03, regions singapore; singapore was
switched ADC -> SJC 2.5 s after the start (and back after the end, which the incident does not
list): back within SLA after 2.5 s. A region event on jakarta 10:00:00-12:00:00 (no cable):
back after its duration, 7200 s. A tokyo event is not acme's.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from cablewatch.reports.figures import StoredEvent, Switch
from cablewatch.sla.evaluate import Minute
from cablewatch.sla.maintenance import MaintenanceWindow
from cablewatch.sla.policy import CreditTier, SlaPolicy
from cablewatch.sla.sketch import RttSketch

__all__ = [
    "DAY",
    "EVENTS",
    "EXPECTED",
    "MAINTENANCE",
    "POLICY",
    "SWITCHES",
    "T0",
    "minutes",
    "replies",
]

T0 = int(time.time() // 86400 * 86400 - 3 * 86400)
DAY = dt.datetime.fromtimestamp(T0, dt.UTC).date().isoformat()
POLICY = SlaPolicy(
    "acme", ("singapore", "jakarta"), ("ADC", "SJC"), availability_pct=99.5, rtt_p95_ms=80.0,
    loss_pct=1.0, bad_minute_loss_pct=5.0, bad_minute_rtt_ms=120.0, min_packets=5,
    credits=(CreditTier(99.9, 10.0), CreditTier(99.0, 25.0)),
)  # fmt: skip
MAINTENANCE = (MaintenanceWindow(T0 + 600 * 60, T0 + 720 * 60, "jakarta PoP power work",
                                 region="jakarta"),)  # fmt: skip
EVENTS = (
    StoredEvent(
        "cable:ADC:1", "cable", "ADC", "ADC", T0 + 100 * 60 + 5, T0 + 130 * 60 + 3, ("singapore",)
    ),
    StoredEvent(
        "region:jakarta:1", "region", "jakarta", "", T0 + 600 * 60, T0 + 720 * 60, ("jakarta",)
    ),
    StoredEvent("region:tokyo:1", "region", "tokyo", "", T0 + 900 * 60, T0 + 910 * 60, ("tokyo",)),
)
SWITCHES = (
    Switch("singapore", "SJC", "ADC", T0 + 100 * 60 + 7.5, "fault", "ADC bad"),
    Switch("singapore", "ADC", "SJC", T0 + 131 * 60 + 13, "speed", "ADC faster"),
)


def _put(out: dict[tuple[str, str], dict[int, Minute]], s: int, path: tuple[str, str],
         received: int, median: float, p95: float, jitter: float) -> None:  # fmt: skip
    if received == 0:
        out.setdefault(path, {})[s] = Minute(s, 60, received, None)
    else:
        out.setdefault(path, {})[s] = Minute(
            s, 60, received, median, p95, jitter, rtt_sketch=RttSketch.of(replies(median, p95))
        )


def replies(median: float, p95: float) -> list[float]:
    """A minute's 60 replies: 56 at its median and 4 at its p95 (InfluxQL's median and
    nearest-rank 95th percentile of them are those two)."""
    return [median] * 56 + [p95] * 4


def minutes() -> dict[tuple[str, str], dict[int, Minute]]:
    """Every path's minute as the rollups (or raw points) give it."""
    out: dict[tuple[str, str], dict[int, Minute]] = {}
    for m in range(1440):
        s = T0 + 60 * m
        _put(out, s, ("singapore", "ADC"), 0 if 100 <= m < 130 else 60, 30.0, 35.0, 1.0)
        if not 110 <= m < 120:
            _put(out, s, ("singapore", "SJC"), 60, 40.0, 45.0, 2.0)
        if m >= 60:
            down = 600 <= m < 720
            slow = 800 <= m < 805
            _put(out, s, ("jakarta", "ADC"), 0 if down else 60, 150.0 if slow else 32.0,
                 155.0 if slow else 37.0, 1.0)  # fmt: skip
            _put(out, s, ("jakarta", "SJC"), 0 if down else 60, 41.0, 46.0, 2.0)
    return out


def _fig(good: int, bad: int, nodata: int, excluded: int, availability: float,
         **rtt: float) -> dict[str, float]:  # fmt: skip
    return {"good": good, "bad": bad, "nodata": nodata, "excluded": excluded,
            "availability": availability, **rtt}  # fmt: skip


EXPECTED: dict[str, Any] = {
    "singapore": {
        "best": _fig(1430, 10, 0, 0, 1430 / 1440 * 100, p50=30.0, p95=35.0, p99=40.0,
                     loss=600 / 86400 * 100, jitter=(1410 + 40) / 1430),
        "ADC": _fig(1410, 30, 0, 0, 1410 / 1440 * 100),
        "SJC": _fig(1430, 0, 10, 0, 100.0),
        "met": False, "credit": 10.0, "budget": 7.2, "budget_used": 10 / 7.2 * 100,
    },
    "jakarta": {
        "best": _fig(1260, 0, 60, 120, 100.0, p50=32.0, p95=37.0, p99=37.0, loss=0.0,
                     jitter=(1255 + 10) / 1260),
        "ADC": _fig(1255, 5, 60, 120, 1255 / 1260 * 100),
        "SJC": _fig(1260, 0, 60, 120, 100.0),
        "met": True, "credit": 0.0, "budget": 7.2, "budget_used": 0.0,
    },
    "customer": {"met": False, "credit": 10.0},
    "incidents": [  # (id, duration_s, regions, switches listed, back_within_s)
        ("cable:ADC:1", 30 * 60 - 2, ["singapore"], 1, 2.5),
        ("region:jakarta:1", 7200.0, ["jakarta"], 0, 7200.0),
    ],
}  # fmt: skip
