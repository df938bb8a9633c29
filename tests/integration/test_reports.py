"""SLA reports from a real influxd, through a real `cablewatch serve`.

The hand-computed day of tests/report_fixture.py is written to influxd as raw points (one ICMP
round a minute, 60 packets, each reply a ``ping_rtt`` point), with its events and
recommendations. `cablewatch serve` (SLA pass every 5 s) rolls the minutes up; then:
- the report's every figure equals the hand computation, read from the rollups (not raw);
- `cablewatch sla status` and a report over the same 30-day window agree minute for minute;
- the PDF's text holds the headline figures and none of its pages is blank (pdftotext,
  pdftoppm); HTML, PDF and JSON carry the same digest;
- the status page renders in headless Chromium without console errors (screenshot kept);
- both customer routes: 401 without a token, 403 with another customer's, 200 with its own
  and with an operator's; a customer's token cannot read the operators' routes;
- `serve` stores the last closed month's reports and announces each with a signed
  ``report.ready`` webhook.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import cablewatch_cmd
from report_fixture import DAY, EVENTS, EXPECTED, SWITCHES, T0, minutes, replies
from servers import Received, webhook_receiver
from waiting import wait_until

from cablewatch.collectors.lineprotocol import line
from cablewatch.gateway.auth import StatusLinks
from cablewatch.gateway.webhooks import verify
from cablewatch.harness.stack import agent_config, evaluator, free_port, influxd, need, wait_http
from cablewatch.reports.figures import figures_digest
from cablewatch.reports.period import previous_month
from cablewatch.sla.sketch import ALPHA
from cablewatch.timefmt import utc_iso

pytestmark = pytest.mark.servers

OPERATOR, ACME, OTHER, SECRET = "op-token-1", "acme-token-2", "other-token-3", "hook-secret"
LINK_KEY = "status-link-key-of-32-characters"
STATION = "shantou"


@dataclass
class Served:
    url: str
    influx: str
    config: Path
    tmp: Path
    hook: Received
    reports: Path
    log: Path
    """serve's log, its access log in it."""


def _fixture_lines() -> list[str]:
    out = []
    for (region, cable), by_minute in minutes().items():
        tags = {"region": region, "cable": cable, "landing_station": STATION,
                "host": f"{region}-probe", "target": f"{cable}.shantou"}  # fmt: skip
        for s, m in by_minute.items():
            out.append(line("ping", tags | {"protocol": "icmp"},
                            {"packets_transmitted": m.sent, "packets_received": m.received,
                             "jitter_ms": m.jitter_ms}, s * 10**9))  # fmt: skip
            if m.received and m.median_rtt_ms is not None and m.rtt_p95_ms is not None:
                rtts = replies(m.median_rtt_ms, m.rtt_p95_ms)
                out += [line("ping_rtt", tags | {"protocol": "icmp"}, {"rtt_ms": r, "seq": i},
                             s * 10**9 + 10**6 * i) for i, r in enumerate(rtts)]  # fmt: skip
    for e in EVENTS:
        out.append(line(
            "event", {"scope": e.scope, "subject": e.subject, "cable": e.cable,
                      "region": e.regions[0] if e.scope == "region" else "",
                      "landing_station": STATION},
            {"event_id": e.id, "state": "resolved", "raised_unix_s": e.start_s + 2,
             "resolved_unix_s": e.end_s, "regions": ",".join(e.regions)},
            int(e.start_s * 1e9)))  # fmt: skip
    for w in SWITCHES:
        out.append(line("recommendation", {"region": w.region, "cable": w.cable,
                                           "previous": w.previous or "", "kind": w.kind},
                        {"version": 1, "cable_name": w.cable, "reason": w.reason},
                        int(w.at_s * 1e9)))  # fmt: skip
    return out


_EXTRA = """
[[sla]]
customer = "acme"
regions = ["singapore", "jakarta"]
cables = ["ADC", "SJC"]
availability_pct = 99.5
rtt_p95_ms = 80.0
loss_pct = 1.0
bad_minute_loss_pct = 5.0
bad_minute_rtt_ms = 120.0
credits = [{{ below_pct = 99.9, credit_pct = 10 }}, {{ below_pct = 99.0, credit_pct = 25 }}]

[[maintenance]]
region = "jakarta"
start = {start}
end = {end}
reason = "jakarta PoP power work"

[report]
dir = "{reports}"

[api]
listen_host = "127.0.0.1"
listen_port = {port}
tokens_file = "{tokens}"
status_link_key_file = "{link_key}"
access_log = true
[api.scopes]
acme-portal = "acme"
retail-portal = "sea-retail"

[[webhooks]]
url = "http://127.0.0.1:{hook_port}/hook"
secret_file = "{secret}"
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("reports")
    hook = Received()
    with webhook_receiver(hook) as hook_port, influxd(tmp / "influx") as ifx:
        config = agent_config(tmp / "cw.toml", ifx.url, icmp_only=True)
        config.write_text(config.read_text().replace("sla_interval_s = 60.0",
                                                     "sla_interval_s = 5.0"))  # fmt: skip
        port = free_port()
        (tmp / "tokens").write_text(f"# operators, then customers\n{OPERATOR}\n"
                                    f"acme-portal:{ACME}\nretail-portal:{OTHER}\n")  # fmt: skip
        (tmp / "secret").write_text(SECRET + "\n")
        (tmp / "link-key").write_text(LINK_KEY + "\n")
        with config.open("a") as f:
            f.write(_EXTRA.format(start=utc_iso(T0 + 600 * 60), end=utc_iso(T0 + 720 * 60),
                                  reports=tmp / "reports", port=port, tokens=tmp / "tokens",
                                  hook_port=hook_port, secret=tmp / "secret",
                                  link_key=tmp / "link-key"))  # fmt: skip
        subprocess.run(cablewatch_cmd("db", "init", "--config", str(config)), check=True,
                       capture_output=True)  # fmt: skip
        lines = _fixture_lines()
        for i in range(0, len(lines), 20000):
            httpx.post(f"{ifx.url}/write", params={"db": "cw"}, timeout=60,
                       content="\n".join(lines[i : i + 20000])).raise_for_status()  # fmt: skip
        log = tmp / "serve.log"
        url = f"http://127.0.0.1:{port}"
        with evaluator(config, log, f"127.0.0.1:{free_port()}", command="serve") as proc:
            wait_http(f"{url}/healthz", (200,), proc, log)

            def rolled() -> bool:
                r = httpx.post(f"{ifx.url}/query", timeout=10, data={
                    "db": "cw", "q": 'SELECT count("sent") FROM "rollup"."minute" WHERE time >= '
                    f"{T0 * 10**9} AND time < {(T0 + 86400) * 10**9}"})  # fmt: skip
                series = r.json()["results"][0].get("series")
                return bool(series) and series[0]["values"][0][1] == 4 * 1440 - 10 - 2 * 60

            wait_until(rolled, 60, "the evaluator's rollups of the fixture day", poll_s=0.3)
            yield Served(url, ifx.url, config, tmp, hook, tmp / "reports", log)


def _get(served: Served, path: str, token: str | None = OPERATOR, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{served.url}{path}", params=params, headers=headers, timeout=120)


def _day(served: Served, fmt: str, token: str = OPERATOR) -> httpx.Response:
    r = _get(served, "/v1/customers/acme/report", token, format=fmt, **{"from": utc_iso(T0),
             "to": utc_iso(T0 + 86400)})  # fmt: skip
    assert r.status_code == 200, r.text
    return r


def test_the_report_equals_the_hand_computation_from_the_rollups(served: Served) -> None:
    report = _day(served, "json").json()
    assert (report["rollup_minutes"], report["raw_minutes"]) == (1440, 0)
    assert report["met"] is EXPECTED["customer"]["met"]
    assert report["credit_pct"] == EXPECTED["customer"]["credit"]
    for g in report["regions"]:
        want = EXPECTED[g["region"]]
        rows = [("best", g["best"])] + [(c["cable"], c) for c in g["cables"]]
        for name, got in rows:
            w = want[name]
            assert (got["good_minutes"], got["bad_minutes"], got["nodata_minutes"],
                    got["excluded_minutes"]) == (w["good"], w["bad"], w["nodata"],
                                                 w["excluded"]), (g["region"], name)  # fmt: skip
            assert got["availability_pct"] == pytest.approx(w["availability"], abs=1e-9)
            for key, field_name in (("loss", "loss_pct"), ("jitter", "jitter_ms")):
                if key in w:
                    assert got[field_name] == pytest.approx(w[key], abs=1e-9), (name, key)
            # percentiles over every reply, from the rollups' sketches merged: within 0.1 %
            for key, field_name in (("p50", "rtt_p50_ms"), ("p95", "rtt_p95_ms"),
                                    ("p99", "rtt_p99_ms")):  # fmt: skip
                if key in w:
                    assert got[field_name] == pytest.approx(w[key], rel=ALPHA), (name, key)
        assert (g["met"], g["credit_pct"]) == (want["met"], want["credit"])
        assert g["budget_used_pct"] == pytest.approx(want["budget_used"])
    got = [(i["id"], round(i["duration_s"], 6), i["regions"], len(i["switches"]),
            i["back_within_s"] and round(i["back_within_s"], 6))
           for i in report["incidents"]]  # fmt: skip
    assert got == EXPECTED["incidents"]
    assert report["digest"] == figures_digest(report)


def test_sla_status_agrees_with_a_report_over_the_same_window(served: Served) -> None:
    for _ in range(10):
        minute = time.time() // 60
        cli = subprocess.run(cablewatch_cmd("sla", "status", "--config", str(served.config),
                                            "--customer", "acme", "--paths", "--json"),
                             capture_output=True, text=True, check=True)  # fmt: skip
        end = minute * 60
        report = _get(served, "/v1/customers/acme/report", format="json",
                      **{"from": utc_iso(end - 30 * 86400), "to": utc_iso(end)}).json()  # fmt: skip
        if time.time() // 60 == minute:
            break
    else:
        raise AssertionError("no minute held both readings")
    status = {(row["region"], row["cable"]): row for row in json.loads(cli.stdout)}
    compared = 0
    for g in report["regions"]:
        for name, fig in [("any", g["best"])] + [(c["cable"], c) for c in g["cables"]]:
            s = status[(g["region"], name)]
            counts = ("good_minutes", "bad_minutes", "nodata_minutes", "excluded_minutes")
            assert [s[k] for k in counts] == [fig[k] for k in counts], (g["region"], name)
            assert s["availability_pct"] == pytest.approx(fig["availability_pct"], abs=1e-9)
            compared += 1
    assert compared == 6
    assert report["regions"][0]["best"]["bad_minutes"] == 10  # the fixture's, not an empty window
    # both count from the first measured minute (InfluxDB's first point): the 30 days before
    # the fixture are not no-data minutes
    began = min(s for by_minute in minutes().values() for s in by_minute)
    assert report["counted_from_s"] == began > end - 30 * 86400


def test_the_pdf_reads_right_and_has_no_blank_page(served: Served) -> None:
    from PIL import Image, ImageStat

    pdf = served.tmp / "acme-day.pdf"
    pdf.write_bytes(_day(served, "pdf").content)
    text = subprocess.run([need("pdftotext"), str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    digest = _day(served, "json").json()["digest"]
    for wanted in ("SLA report: acme", "SLA missed in Singapore", "10 % of the period's fee",
                   "99.306 %", "100.000 %", "138.9 %", "jakarta PoP power work",
                   "Cable ADC: a fault",  # the status page's words, not "cable: ADC"
                   "Singapore: ADC had a fault at 01:40; we moved you to SJC. "
                   "(+2.5 s)"):  # fmt: skip
        assert wanted in " ".join(text.split()), wanted
    assert digest in "".join(text.split())  # the digest may break across lines
    assert digest in _day(served, "html").text
    pages = served.tmp / "page"
    subprocess.run([need("pdftoppm"), "-r", "50", "-png", str(pdf), str(pages)], check=True)
    pngs = sorted(served.tmp.glob("page-*.png"))
    assert len(pngs) >= 2
    for png in pngs:
        stddev = ImageStat.Stat(Image.open(png).convert("L")).stddev[0]
        assert stddev > 10, (png, stddev)  # a blank page is one flat colour


def _chromium(url: str, shot: Path, profile: Path) -> str:
    """Headless Chromium loads ``url`` and screenshots it; returns its log (console lines)."""
    done = subprocess.run(
        [need("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         "--window-size=1280,900", f"--screenshot={shot}", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shot.exists(), done.stderr[-2000:]
    return done.stderr


def _console_errors(log: str) -> list[str]:
    return [ln for ln in log.splitlines() if "CONSOLE" in ln or "Failed to load resource" in ln]


def _link(served: Served, customer: str = "acme", *extra: str) -> str:
    """`cablewatch status-link`: a signed link to ``customer``'s status page."""
    done = subprocess.run(cablewatch_cmd("status-link", customer, "--config", str(served.config),
                                         "--base", served.url, *extra),
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.strip()


def test_the_status_page_renders_in_chromium_without_console_errors(served: Served) -> None:
    shot = served.tmp / "status.png"
    link = _link(served)
    assert link.startswith(f"{served.url}/v1/customers/acme/status?expires=")
    log = _chromium(link, shot, served.tmp / "chromium")
    assert _console_errors(log) == []
    assert shot.stat().st_size > 20_000  # a rendered page, not an error
    page = _get(served, "/v1/customers/acme/status", ACME)
    assert "acme: service status" in page.text
    assert "<h2>Singapore " in page.text  # the region's name, not its id
    assert "score" not in page.text  # the customer's words, not the evaluator's
    assert page.headers["cache-control"] == "no-store"
    # the check can fail: a page that logs an error is caught
    broken = served.tmp / "broken.html"
    broken.write_text("<html><body><script>console.error('boom')</script>x</body></html>")
    caught = _console_errors(_chromium(broken.as_uri(), served.tmp / "broken.png",
                                       served.tmp / "chromium2"))  # fmt: skip
    assert caught
    assert "boom" in caught[0]


@pytest.mark.parametrize("route", ["status", "report"])
def test_token_scopes(served: Served, route: str) -> None:
    path = f"/v1/customers/acme/{route}"
    params = {"format": "json", "period": DAY[:7]} if route == "report" else {}
    assert _get(served, path, None, **params).status_code == 401
    assert _get(served, path, "wrong", **params).status_code == 401
    assert _get(served, path, OTHER, **params).status_code == 403
    assert _get(served, path, ACME, **params).status_code == 200
    assert _get(served, path, OPERATOR, **params).status_code == 200
    # a customer's token reads nothing else, and learns nothing of other customers
    assert _get(served, "/v1/recommendations", ACME).status_code == 403
    assert _get(served, "/v1/customers/sea-retail/" + route, ACME, **params).status_code == 403
    assert _get(served, "/v1/customers/nobody/" + route, ACME, **params).status_code == 403
    assert _get(served, "/v1/customers/nobody/" + route, OPERATOR, **params).status_code == 404


def test_serve_stores_the_closed_month_and_announces_it(served: Served) -> None:
    label = previous_month(time.time(), "UTC").label

    def done() -> bool:
        made = {p.parent.name for p in served.reports.glob(f"*/{label}.pdf")}
        return len(made) == 3 and len(served.hook.posts) >= 3

    wait_until(done, 120, "three stored reports and their webhooks", poll_s=0.3)
    stored = {p.parent.name: p for p in served.reports.glob(f"*/{label}.pdf")}
    assert set(stored) == {"sea-retail", "north-asia-fintech", "acme"}
    ready = []
    for headers, body in served.hook.posts:
        assert verify(SECRET, headers["X-Cablewatch-Timestamp"], body,
                      headers["X-Cablewatch-Signature"], now_s=time.time())  # fmt: skip
        payload = json.loads(body)
        if payload.get("type") == "report.ready":
            ready.append(payload)
    assert sorted(p["customer"] for p in ready) == ["acme", "north-asia-fintech", "sea-retail"]
    for p in ready:
        stored_json = json.loads((served.reports / p["customer"] / f"{label}.json").read_text())
        assert p["figures_sha256"] == stored_json["digest"]
        assert p["period"] == label
        assert stored[p["customer"]].read_bytes().startswith(b"%PDF")
    # the closed month is served as stored, byte for byte, without being made again: a mark
    # put into the stored JSON comes back
    for fmt in ("pdf", "json"):
        t0 = time.monotonic()
        got = _get(served, "/v1/customers/acme/report", format=fmt, period=label)
        print(f"closed month served as stored ({fmt}): {time.monotonic() - t0:.3f} s")
        assert got.status_code == 200
        assert got.content == (served.reports / "acme" / f"{label}.{fmt}").read_bytes()
    kept_path = served.reports / "acme" / f"{label}.json"
    kept_bytes = kept_path.read_bytes()
    kept_path.write_bytes(kept_bytes.replace(b'"label"', b'"archived": true, "label"', 1))
    try:
        marked = _get(served, "/v1/customers/acme/report", format="json", period=label).json()
        assert marked["archived"] is True
    finally:
        kept_path.write_bytes(kept_bytes)
    # and made again from the system of record, its figures are the same
    again = subprocess.run(cablewatch_cmd("report", "--customer", "acme", "--period", label,
                                          "--format", "json", "--config", str(served.config)),
                           capture_output=True, text=True, check=True)  # fmt: skip
    kept = json.loads((served.reports / "acme" / f"{label}.json").read_text())
    assert json.loads(again.stdout)["digest"] == kept["digest"]


def test_a_signed_link_opens_one_page_until_it_expires_and_no_token_is_logged(
    served: Served,
) -> None:
    """A bearer token in a URL ends up in proxy and browser logs: the status page takes a
    signed link instead (HMAC over customer and expiry), and the access log holds no token."""
    link = _link(served)
    query = link.split("?", 1)[1]
    assert httpx.get(link, timeout=30).status_code == 200
    # another customer's page, a forged signature, a stretched expiry: refused
    for bad in (f"{served.url}/v1/customers/sea-retail/status?{query}",
                link[:-1] + ("0" if link[-1] != "0" else "1"),
                link.replace("expires=", "expires=1")):  # fmt: skip
        assert httpx.get(bad, timeout=30).status_code == 401, bad
    # the API mints links too, for the customer's own token; and they end
    minted = _get(served, "/v1/customers/acme/status-link", ACME, ttl_s="60")
    assert minted.status_code == 200
    assert httpx.get(served.url + minted.json()["path"], timeout=30).status_code == 200
    assert _get(served, "/v1/customers/acme/status-link", OTHER).status_code == 403
    expired = StatusLinks(LINK_KEY.encode()).mint("acme", 60, now_s=time.time() - 120)[0]
    assert httpx.get(f"{served.url}/v1/customers/acme/status?{expired}",
                     timeout=30).status_code == 401  # fmt: skip
    # the access log saw every request above, and none of the bearer tokens
    text = wait_until(lambda: "status-link" in served.log.read_text() and served.log.read_text(),
                      10, "the access log")  # fmt: skip
    assert '"GET /v1/customers/acme/status?expires=' in str(text)
    for token in (OPERATOR, ACME, OTHER):
        assert token not in str(text), token


def test_a_period_whose_raw_points_are_gone_is_reported_whole(served: Served) -> None:
    """Raw points live 30 days, the rollups 400 (their own retention policy): once a period's
    raw points have expired (dropped here), its report is the same, figure for figure."""
    before = _day(served, "json").json()
    for measurement in ("ping", "ping_rtt"):
        httpx.post(f"{served.influx}/query", timeout=30, data={
            "db": "cw", "q": f'DROP MEASUREMENT "{measurement}"'}).raise_for_status()  # fmt: skip
    left = httpx.post(f"{served.influx}/query", timeout=30, data={
        "db": "cw", "q": 'SELECT count("packets_transmitted") FROM "ping"'}).json()  # fmt: skip
    assert "series" not in left["results"][0]  # no raw round left
    after = _day(served, "json").json()
    assert (after["rollup_minutes"], after["raw_minutes"]) == (1440, 0)
    assert after["digest"] == before["digest"]
    assert after["regions"] == before["regions"]
