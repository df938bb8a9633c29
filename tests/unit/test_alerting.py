"""Fault events as Alertmanager alerts (pure)."""

from __future__ import annotations

from cablewatch.alerting.alertmanager import alert, customers
from cablewatch.config import load_default
from cablewatch.correlation.events import Event

POLICIES = load_default().slas  # sea-retail: SE Asia; north-asia-fintech: HK, Tokyo, Manila


def event(scope: str, subject: str, cable: str = "", region: str = "") -> Event:
    return Event(scope, subject, cable, region, first_seen_s=100.0)  # type: ignore[arg-type]


def test_labels_do_not_change_while_the_event_grows() -> None:
    e = event("cable", "SJC", cable="SJC")
    e.seen_paths = {("brunei", "SJC"), ("jakarta", "SJC")}  # sea-retail regions only, so far
    e.raised_s = 101.0
    first = alert(e, station="shantou", policies=POLICIES, evidence={}, now_s=101.0, resend_s=60)
    e.seen_paths |= {("tokyo", "SJC"), ("manila", "SJC")}
    later = alert(e, station="shantou", policies=POLICIES, evidence={}, now_s=102.0, resend_s=60)
    assert first["labels"] == later["labels"]
    assert first["labels"]["customers"] == "north-asia-fintech,sea-retail"
    assert first["endsAt"] == "1970-01-01T00:05:41Z"  # 4 x resend ahead: 101 + 240
    e.resolved_s = 130.0
    done = alert(e, station="shantou", policies=POLICIES, evidence={}, now_s=130.0, resend_s=60)
    assert done["labels"] == first["labels"]
    assert (done["startsAt"], done["endsAt"]) == ("1970-01-01T00:01:41Z", "1970-01-01T00:02:10Z")


def test_customers_by_scope() -> None:
    assert customers(event("path", "tokyo/ADC", "ADC", "tokyo"), POLICIES) == ["north-asia-fintech"]
    assert customers(event("region", "jakarta", region="jakarta"), POLICIES) == ["sea-retail"]
    assert customers(event("probe", "manila", region="manila"), POLICIES) == ["north-asia-fintech"]
    assert customers(event("station", "shantou"), POLICIES) == [
        "north-asia-fintech", "sea-retail"
    ]  # fmt: skip


def test_labels_name_what_broke() -> None:
    e = event("path", "jakarta/SJC", "SJC", "jakarta")
    e.raised_s = 5.0
    labels = alert(e, station="shantou", policies=POLICIES, evidence={"x": 1}, now_s=5.0,
                   resend_s=60)["labels"]  # fmt: skip
    assert labels == {
        "alertname": "CablewatchPathFault", "severity": "warning", "scope": "path",
        "subject": "jakarta/SJC", "cable": "SJC", "region": "jakarta",
        "landing_station": "shantou", "event_id": "path:jakarta/SJC:100000",
        "customers": "sea-retail",
    }  # fmt: skip
