"""Fault events as Alertmanager alerts, and who they hurt (pure)."""

from __future__ import annotations

from cablewatch.alerting import impact
from cablewatch.alerting.alertmanager import alert
from cablewatch.config import load_default
from cablewatch.correlation.classify import PathKey, PathStatus
from cablewatch.correlation.events import Event

CONFIG = load_default()
POLICIES = CONFIG.slas  # sea-retail: SE Asia; north-asia-fintech: HK, Tokyo, Manila
CABLE_REGIONS = {c.name: [r.id for r in CONFIG.topology.regions if c.name in r.paths]
                 for c in CONFIG.topology.cables}  # fmt: skip
CABLES = ("ADC", "SJC", "APCN-2")


def event(scope: str, subject: str, cable: str = "", region: str = "",
          paths: set[PathKey] | None = None) -> Event:  # fmt: skip
    e = Event(scope, subject, cable, region, first_seen_s=100.0)  # type: ignore[arg-type]
    e.seen_paths = set(paths or ())
    e.paths = set(e.seen_paths)
    return e


def raised(e: Event, status: dict[PathKey, PathStatus],
           burning: frozenset[tuple[str, str]] = frozenset()) -> Event:  # fmt: skip
    """What the evaluator does when it raises ``e``."""
    e.customers = impact.customers(e, POLICIES, CABLE_REGIONS)
    e.severity = impact.severity(e, e.customers, POLICIES, status, burning)
    return e


def status(bad: set[PathKey]) -> dict[PathKey, PathStatus]:
    return {(r.id, c): "bad" if (r.id, c) in bad else "good"
            for r in CONFIG.topology.regions for c in CABLES}  # fmt: skip


def test_labels_do_not_change_while_the_event_grows() -> None:
    paths = {("brunei", "SJC"), ("jakarta", "SJC")}  # sea-retail regions only, so far
    e = raised(event("partial", "SJC", cable="SJC", paths=paths), status(paths))
    e.raised_s = 101.0
    first = alert(e, station="shantou", evidence={}, now_s=101.0, resend_s=60)
    e.seen_paths |= {("tokyo", "SJC"), ("manila", "SJC")}
    later = alert(e, station="shantou", evidence={}, now_s=102.0, resend_s=60)
    assert first["labels"] == later["labels"]
    assert first["labels"]["customers"] == "sea-retail"
    assert first["labels"]["severity"] == "warning"
    assert first["endsAt"] == "1970-01-01T00:05:41Z"  # 4 x resend ahead: 101 + 240
    e.resolved_s = 130.0
    done = alert(e, station="shantou", evidence={}, now_s=130.0, resend_s=60)
    assert done["labels"] == first["labels"]
    assert (done["startsAt"], done["endsAt"]) == ("1970-01-01T00:01:41Z", "1970-01-01T00:02:10Z")


def test_customers_are_those_with_an_affected_path() -> None:
    def names(e: Event) -> tuple[str, ...]:
        return impact.customers(e, POLICIES, CABLE_REGIONS)

    assert names(event("path", "tokyo/ADC", "ADC", "tokyo", {("tokyo", "ADC")})) == (
        "north-asia-fintech",
    )
    assert names(event("region", "jakarta", region="jakarta")) == ("sea-retail",)
    assert names(event("probe", "manila", region="manila")) == ("north-asia-fintech",)
    assert names(event("station", "shantou")) == ("north-asia-fintech", "sea-retail")
    # a whole cable affects every region on it, even those not seen bad yet
    assert names(event("cable", "ADC", "ADC", paths={("jakarta", "ADC")})) == (
        "north-asia-fintech", "sea-retail",
    )  # fmt: skip
    # a minority of the cable's regions: only their customers, not everyone on the cable
    assert names(
        event("partial", "ADC", "ADC", paths={("jakarta", "ADC"), ("bangkok", "ADC")})
    ) == ("sea-retail",)


def test_severity_follows_customer_impact() -> None:
    two = {("jakarta", "ADC"), ("bangkok", "ADC")}
    partial = event("partial", "ADC", "ADC", paths=two)
    assert raised(partial, status(two)).severity == "warning"  # both still have clean cables
    # Bangkok has no clean cable left among sea-retail's cables: its SLA is at risk
    bangkok_dark = two | {("bangkok", "SJC"), ("bangkok", "APCN-2")}
    assert raised(event("partial", "ADC", "ADC", paths=two), status(bangkok_dark)).severity == (
        "critical"
    )
    # or its error budget burns above the fast threshold
    burning = frozenset({("sea-retail", "jakarta")})
    assert raised(event("partial", "ADC", "ADC", paths=two), status(two), burning).severity == (
        "critical"
    )
    # north-asia-fintech is not affected by Jakarta and Bangkok: its burn does not count
    other = frozenset({("north-asia-fintech", "tokyo")})
    assert raised(event("partial", "ADC", "ADC", paths=two), status(two), other).severity == (
        "warning"
    )
    cut = {(r, "ADC") for r in CABLE_REGIONS["ADC"]}
    assert raised(event("cable", "ADC", "ADC", paths=cut), status(cut)).severity == "critical"
    assert raised(event("probe", "tokyo", region="tokyo"), status(set())).severity == "warning"


def test_labels_name_what_broke() -> None:
    path = {("jakarta", "SJC")}
    e = raised(event("path", "jakarta/SJC", "SJC", "jakarta", path), status(path))
    e.raised_s = 5.0
    body = alert(e, station="shantou", evidence={"x": 1}, now_s=5.0, resend_s=60)
    assert body["labels"] == {
        "alertname": "CablewatchPathFault", "severity": "warning", "scope": "path",
        "subject": "jakarta/SJC", "cable": "SJC", "region": "jakarta",
        "landing_station": "shantou", "customers": "sea-retail",
    }  # fmt: skip
    # which evaluator saw it first (and when) is not the alert's identity: an annotation
    assert body["annotations"]["event_id"] == "path:jakarta/SJC:100000"
    segment = event("segment", "SJC Tuas-Shantou", "SJC", paths={("jakarta", "SJC")})
    assert alert(segment, station="shantou", evidence={}, now_s=5.0,
                 resend_s=60)["labels"]["alertname"] == "CablewatchSegmentFault"  # fmt: skip


def test_an_event_point_names_its_regions_for_people_and_keeps_ids_for_programs() -> None:
    """The NOC's open-events table reads "Ho Chi Minh City, Kuala Lumpur"; reports and the
    status page read the ids."""
    from cablewatch.correlation.events import Event
    from cablewatch.evaluator.points import event_line

    event = Event("cable", "ADC", "ADC", "", 100.0, raised_s=101.0,
                  seen_paths={("kuala-lumpur", "ADC"), ("ho-chi-minh-city", "ADC")})  # fmt: skip
    point = event_line(
        event,
        "shantou",
        100.0,
        {"summary": "cable ADC"},
        {"ho-chi-minh-city": "Ho Chi Minh City", "kuala-lumpur": "Kuala Lumpur"},
    )
    assert 'regions="ho-chi-minh-city,kuala-lumpur"' in point
    assert 'regions_named="Ho Chi Minh City, Kuala Lumpur"' in point
