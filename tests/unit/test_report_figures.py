"""The report's figures against the hand computation of tests/report_fixture.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import pytest
from report_fixture import DAY, EVENTS, EXPECTED, MAINTENANCE, POLICY, SWITCHES, T0, minutes

from cablewatch.reports.charts import burndown
from cablewatch.reports.figures import PathFigures, Report, build, figures_digest
from cablewatch.reports.render import html, to_json
from cablewatch.sla.sketch import ALPHA


def report() -> Report:
    return build(POLICY, minutes(), start_s=T0, end_s=T0 + 86400, label=DAY,
                 timezone="UTC", now_s=T0 + 2 * 86400, version="test",
                 maintenance=MAINTENANCE, events=EVENTS, switches=SWITCHES,
                 names={"singapore": "Singapore", "jakarta": "Jakarta"})  # fmt: skip


def check(got: PathFigures, want: dict[str, float]) -> None:
    assert (got.good_minutes, got.bad_minutes, got.nodata_minutes, got.excluded_minutes) == (
        want["good"], want["bad"], want["nodata"], want["excluded"])  # fmt: skip
    assert got.availability_pct == pytest.approx(want["availability"], abs=1e-9)
    for key, value in (("loss", got.loss_pct), ("jitter", got.jitter_ms)):
        if key in want:
            assert value == pytest.approx(want[key], abs=1e-9), key
    # percentiles over every reply, from the minutes' sketches: within their relative error
    for key, value in (("p50", got.rtt_p50_ms), ("p95", got.rtt_p95_ms), ("p99", got.rtt_p99_ms)):
        if key in want:
            assert value == pytest.approx(want[key], rel=ALPHA), key


def test_every_figure_equals_the_hand_computation() -> None:
    r = report()
    assert [g.region for g in r.regions] == ["singapore", "jakarta"]
    for g in r.regions:
        want = EXPECTED[g.region]
        check(g.best, want["best"])
        for c in g.cables:
            check(c, want[c.cable])
        assert (g.met, g.credit_pct) == (want["met"], want["credit"])
        assert g.budget_minutes == pytest.approx(want["budget"])
        assert g.budget_used_pct == pytest.approx(want["budget_used"])
    assert (r.met, r.credit_pct) == (EXPECTED["customer"]["met"], EXPECTED["customer"]["credit"])
    got = [(i.id, round(i.duration_s, 6), i.regions, len(i.switches),
            None if i.back_within_s is None else round(i.back_within_s, 6))
           for i in r.incidents]  # fmt: skip
    assert got == EXPECTED["incidents"]
    assert [w["reason"] for w in r.maintenance] == ["jakarta PoP power work"]
    assert not r.partial


def test_daily_bars_and_burn_down() -> None:
    r = report()
    sg = r.regions[0]
    [(day, availability)] = sg.daily
    assert day == DAY
    assert availability == pytest.approx(1430 / 1440 * 100)
    assert sg.burndown[0] == (float(T0), 100.0)
    end, left = sg.burndown[-1]
    assert end == T0 + 86400
    assert left == pytest.approx(100 * (1 - 10 / 7.2))
    assert len(sg.burndown) == 25  # the start and each hour's end


def test_the_digest_is_of_the_figures_and_changes_with_them() -> None:
    r = report()
    data = json.loads(to_json(r))
    assert data["digest"] == figures_digest(data) == r.digest
    data["regions"][0]["best"]["bad_minutes"] += 1
    assert figures_digest(data) != r.digest
    data = json.loads(to_json(r))
    data["generated_s"] += 3600  # when it was made is not a figure
    assert figures_digest(data) == r.digest


def test_a_period_in_progress_counts_only_the_minutes_so_far() -> None:
    r = build(POLICY, minutes(), start_s=T0, end_s=T0 + 86400, label="today", timezone="UTC",
              now_s=T0 + 200 * 60 + 30, version="test")  # fmt: skip
    sg = r.regions[0].best
    assert r.partial
    assert sg.good_minutes + sg.bad_minutes + sg.nodata_minutes == 200
    assert sg.bad_minutes == 10


def _with_ttft(objective_ms: float) -> Report:
    """The fixture, Singapore's minutes with a time to first token (p95: ADC 300 ms, SJC 500
    ms), under a TTFT objective."""
    mins = minutes()
    for (region, cable), per in mins.items():
        for s, m in per.items():
            if region == "singapore" and m.median_rtt_ms is not None:
                per[s] = dataclasses.replace(m, ttft_p95_ms=300.0 if cable == "ADC" else 500.0)
    policy = dataclasses.replace(POLICY, ttft_p95_ms=objective_ms)
    return build(policy, mins, start_s=T0, end_s=T0 + 86400, label=DAY, timezone="UTC",
                 now_s=T0 + 2 * 86400, version="test")  # fmt: skip


def test_a_ttft_objective_is_reported_on_the_best_cable() -> None:
    """The best cable is ADC but in minutes 100-109 and 120-129 (SJC): 20 of 1,430 minutes at
    500 ms, under 5 %, so the p95 is ADC's 300 ms; SJC alone is 500. Jakarta has none."""
    r = _with_ttft(400.0)
    sg, jk = r.regions
    assert (sg.best.ttft_p95_ms, sg.ttft_met) == (300.0, True)
    assert {c.cable: c.ttft_p95_ms for c in sg.cables} == {"ADC": 300.0, "SJC": 500.0}
    assert (jk.best.ttft_p95_ms, jk.ttft_met) == (None, None)
    page = html(r, "Shantou")
    assert "time to first token p95 ≤ 400.0 ms" in page
    assert page.count("<th>TTFT p95</th>") == 2  # per region and per cable
    missed = _with_ttft(250.0)
    assert (missed.regions[0].ttft_met, missed.regions[0].met) == (False, False)
    assert "TTFT p95" not in html(report(), "Shantou")  # no objective, no column


def test_people_read_region_names_the_figures_keep_ids() -> None:
    r = report()
    page = html(r, "Shantou")
    assert "<td>Singapore</td>" in page
    assert "<td>singapore</td>" not in page
    assert "Singapore: ADC had a fault at 01:40; we moved you to SJC." in page  # a switch
    assert [g.region for g in r.regions] == ["singapore", "jakarta"]  # JSON keeps the ids
    assert (
        r.digest
        == build(
            POLICY,
            minutes(),
            start_s=T0,
            end_s=T0 + 86400,
            label=DAY,
            timezone="UTC",
            now_s=T0 + 2 * 86400,
            version="test",
            maintenance=MAINTENANCE,
            events=EVENTS,
            switches=SWITCHES,
        ).digest
    )  # names change no figure


def test_a_period_counts_from_when_monitoring_began() -> None:
    """Monitoring began 300 minutes into the day: the report counts (and budgets) the day's
    minutes from then, and says so; none before is a no-data minute."""
    began = T0 + 300 * 60 + 17
    r = build(POLICY, minutes(), start_s=T0, end_s=T0 + 86400, label=DAY, timezone="UTC",
              now_s=T0 + 2 * 86400, version="test", began_s=began)  # fmt: skip
    whole = report()
    assert r.counted_from_s == T0 + 300 * 60
    for got, day in zip(r.regions, whole.regions, strict=True):
        b = got.best
        assert b.good_minutes + b.bad_minutes + b.nodata_minutes + b.excluded_minutes == 1140
        assert got.budget_minutes == pytest.approx(POLICY.error_ratio * 1140)
        assert b.nodata_minutes <= day.best.nodata_minutes
    assert f"monitoring began {DAY} 05:00:00</b>: counted from then" in html(r, station="Shantou")
    assert "monitoring began" not in html(whole, station="Shantou")


def test_a_short_period_is_charted_by_the_minute() -> None:
    """Figures are per minute: a report of a few minutes labels its burn-down axis with minutes
    (the automatic locator labelled seconds between them: '00:00', '30', '00:01', ...)."""
    r = build(POLICY, minutes(), start_s=T0, end_s=T0 + 86400, label="today", timezone="UTC",
              now_s=T0 + 3 * 60 + 30, version="test")  # fmt: skip
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", burndown(r))
    assert labels[:4] == ["00:00", "00:01", "00:02", "00:03"]
    assert "30" not in labels


def test_a_period_before_monitoring_began_counts_nothing_and_says_when_it_began() -> None:
    """The closed month before an install: no minute counted, the header names when monitoring
    began; its burn-down is one point (whose date axis spans years: a tick a minute there
    asked matplotlib for 2.3 million ticks)."""
    began = T0 + 2 * 86400 + 600
    r = build(POLICY, minutes(), start_s=T0, end_s=T0 + 86400, label=DAY, timezone="UTC",
              now_s=T0 + 3 * 86400, version="test", began_s=began)  # fmt: skip
    assert all(g.best.good_minutes + g.best.bad_minutes == 0 for g in r.regions)
    text = html(r, station="Shantou")
    when = dt.datetime.fromtimestamp(began // 60 * 60, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert f"monitoring began {when}</b>: no minute of this period is counted" in text
    assert "<svg" in burndown(r)
