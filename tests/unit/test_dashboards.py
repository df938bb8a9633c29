"""The dashboards, checked offline: Grafana's JSON schemas (grafana-foundation-sdk v0.0.18,
../shared/grafana-jsonschema/), the SDK's own round trip, Grafana's lints, PromQL parsed by
promtool; the committed JSON is what the code builds. Each check is shown to catch a planted
fault."""

from __future__ import annotations

import copy
import http.server
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from cablewatch.cli import app
from cablewatch.config import load_default
from cablewatch.dashboards.build import build_all, render
from cablewatch.dashboards.check import (
    expand,
    lint,
    queries,
    roundtrip,
    schema_errors,
    substitute,
)
from cablewatch.dashboards.names import rename, table_mappings

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT.parent / "shared" / "grafana-jsonschema"
COMMITTED = ROOT / "deploy" / "grafana" / "dashboards"
MODELS = build_all(load_default())
VALUES = {"influxdb": "cablewatch-influxdb", "prometheus": "cablewatch-prometheus",
          "station": "shantou", "region": "singapore", "cable": "ADC",
          "customer": "sea-retail"}  # fmt: skip


def test_the_five_dashboards() -> None:
    assert sorted(MODELS) == ["cablewatch-agents", "cablewatch-cable", "cablewatch-noc",
                              "cablewatch-path", "cablewatch-sla"]  # fmt: skip
    assert MODELS["cablewatch-noc"]["refresh"] == "10s"  # the wall screen
    titles = [p["title"] for p in MODELS["cablewatch-noc"]["panels"]]
    for cable in ("ADC", "SJC", "APCN-2"):  # a column per cable: a cut is a red column
        assert f"{cable}: path state" in titles
        assert f"{cable}: loss, last round" in titles


@pytest.mark.parametrize("uid", sorted(MODELS))
def test_schema_roundtrip_and_lints(uid: str) -> None:
    model = MODELS[uid]
    assert schema_errors(model, SCHEMAS) == []
    assert roundtrip(model) is None
    assert lint(model) == []


@pytest.mark.parametrize("uid", sorted(MODELS))
def test_the_committed_json_is_what_the_code_builds(uid: str) -> None:
    committed = COMMITTED / f"{uid}.json"
    assert committed.read_text() == render(MODELS[uid]), (
        f"{committed} drifted from dashboards/: run `cablewatch dashboards build`"
    )


def test_variables_come_from_queries_not_lists() -> None:
    for model in MODELS.values():
        for var in model["templating"]["list"]:
            assert var["type"] in ("datasource", "query"), var
            if var["type"] == "query":
                assert var["query"].startswith("SHOW TAG VALUES FROM"), var


def test_an_undefined_variable_fails_the_lint() -> None:
    broken = copy.deepcopy(MODELS["cablewatch-path"])
    broken["panels"][0]["targets"][0]["query"] += " AND \"target\" = '$target'"
    assert any("undefined variable $target" in e for e in lint(broken))
    outside = copy.deepcopy(MODELS["cablewatch-cable"])
    outside["panels"][0]["gridPos"]["x"] = 20
    assert any("24-column grid" in e for e in lint(outside))


def test_a_schema_violation_fails() -> None:
    broken = copy.deepcopy(MODELS["cablewatch-agents"])
    broken["panels"][0]["options"]["colorMode"] = "rainbow"
    assert schema_errors(broken, SCHEMAS) != []


def promtool_errors(exprs: list[str], tmp: Path) -> str:
    """promtool's verdict on ``exprs`` as recording rules: '' when every one parses."""
    rules = tmp / "dashboard-queries.yml"
    lines = ["groups:", "  - name: dashboards", "    rules:"]
    for i, expr in enumerate(exprs):
        lines += [f"      - record: dashboard:query:{i}", f"        expr: {json.dumps(expr)}"]
    rules.write_text("\n".join(lines) + "\n")
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is installed by scripts/setup.sh"
    proc = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    return "" if proc.returncode == 0 else proc.stdout + proc.stderr


def _promql(models: dict[str, dict[str, Any]]) -> list[str]:
    now = time.time_ns()
    return [expand(text, VALUES, start_ns=now - 3600 * 10**9, end_ns=now, interval_s=15)
            for model in models.values() for _w, _r, lang, text, _i in queries(model)
            if lang == "promql"]  # fmt: skip


def test_every_promql_expression_parses(tmp_path: Path) -> None:
    exprs = _promql(MODELS)
    assert len(exprs) >= 20
    assert promtool_errors(exprs, tmp_path) == ""


def test_a_broken_promql_expression_fails(tmp_path: Path) -> None:
    exprs = _promql(MODELS)
    exprs[3] = exprs[3] + " +"
    errors = promtool_errors(exprs, tmp_path)
    assert '"dashboard:query:3": could not parse expression' in errors


def test_expand_as_grafana_does() -> None:
    text = "WHERE \"cable\" = '$cable' AND $timeFilter GROUP BY time($__interval) ${region}"
    out = expand(text, VALUES, start_ns=1, end_ns=2, interval_s=15)
    assert out == "WHERE \"cable\" = 'ADC' AND time >= 1 AND time <= 2 GROUP BY time(15s) singapore"


def test_titles_show_the_chosen_variables() -> None:
    """Previews title panels as Grafana does: "Median RTT per region over $cable" reads
    "... over ADC"; a variable nobody chose stays as written."""
    values = {"cable": "ADC", "region": "singapore"}
    assert substitute("Median RTT per region over $cable", values) == (
        "Median RTT per region over ADC")  # fmt: skip
    assert substitute("${region} to $station", values) == "singapore to $station"
    titles = [substitute(p["title"], values | {"station": "shantou", "customer": "sea-retail"})
              for m in MODELS.values() for p in m["panels"]]  # fmt: skip
    assert not [t for t in titles if "$" in t]


def test_people_read_region_names_queries_keep_ids() -> None:
    """Legends, stat names and table cells show "Ho Chi Minh City"; the queries, variables and
    links keep "ho-chi-minh-city". The rules are Grafana's own (renameByRegex, value mappings),
    and the previews apply them the way Grafana reads them."""
    sla = MODELS["cablewatch-sla"]
    burn = next(p for p in sla["panels"] if p["title"].startswith("Error budget burn"))
    shown = rename(burn)
    assert shown("ho-chi-minh-city 1h") == "Ho Chi Minh City 1h"
    assert shown("kuala-lumpur") == "Kuala Lumpur"
    assert shown("ping.median {region: hong-kong}") == "ping.median {region: Hong Kong}"
    assert shown("manila-2 1h") == "manila-2 1h"  # a whole id only
    rule = burn["transformations"][0]["options"]["regex"]
    assert (rule[0], rule[-1]) == ("/", "/")  # unanchored, as Grafana reads it
    now = next(p for p in sla["panels"] if p["title"].startswith("Now, per region"))
    assert table_mappings(now)["ho-chi-minh-city"] == "Ho Chi Minh City"
    assert "'$customer'" in now["targets"][0]["query"]  # the query is untouched
    for model in MODELS.values():  # every panel that can show a region renames it
        for panel in model["panels"]:
            text = json.dumps(panel.get("targets", []))
            assert ("region" in text) == bool(panel.get("transformations")), panel["title"]


def test_cli_build_writes_every_dashboard(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["dashboards", "build", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(MODELS)


class _Grafana(http.server.BaseHTTPRequestHandler):
    """A stand-in for Grafana's HTTP API on loopback: folders and dashboards, bearer token."""

    seen: ClassVar[list[tuple[str, str, str, dict[str, Any]]]] = []
    folders: ClassVar[set[str]] = set()

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path, self.headers.get("Authorization", ""), {}))
        uid = self.path.rsplit("/", 1)[-1]
        if uid in self.folders:
            self._reply(200, {"uid": uid})
        else:
            self._reply(404, {"message": "folder not found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(("POST", self.path, self.headers.get("Authorization", ""), body))
        if self.headers.get("Authorization") != "Bearer s3cret-token":
            self._reply(401, {"message": "invalid API key"})
        elif self.path == "/api/folders":
            self.folders.add(body["uid"])
            self._reply(200, {"uid": body["uid"], "title": body["title"]})
        else:
            uid = body["dashboard"]["uid"]
            self._reply(200, {"status": "success", "version": 1, "url": f"/d/{uid}"})

    def log_message(self, *_args: Any) -> None:
        pass


def test_publish_uploads_every_dashboard_into_one_folder_token_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Grafana)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        monkeypatch.setenv("GRAFANA_TOKEN", "s3cret-token")
        result = CliRunner().invoke(app, ["dashboards", "publish", "--url", url])
        assert result.exit_code == 0, result.output
        posts = [s for s in _Grafana.seen if s[0] == "POST"]
        assert [p[1] for p in posts] == ["/api/folders"] + ["/api/dashboards/db"] * 5
        assert all(p[2] == "Bearer s3cret-token" for p in posts)
        uploaded = {p[3]["dashboard"]["uid"]: p[3] for p in posts[1:]}
        assert sorted(uploaded) == sorted(MODELS)
        assert all(b["overwrite"] and b["folderUid"] == "cablewatch" for b in uploaded.values())
        assert "s3cret-token" not in result.output
        assert "created folder 'cablewatch'" in result.output
        (tmp_path / "wrong").write_text("not-the-token\n")
        bad = CliRunner().invoke(app, ["dashboards", "publish", "--url", url,
                                       "--token-file", str(tmp_path / "wrong")])  # fmt: skip
        assert bad.exit_code == 2
        assert bad.stderr.startswith(f"cablewatch: grafana {url}: ")
        assert "not-the-token" not in bad.output
        dry = CliRunner().invoke(app, ["dashboards", "publish", "--url", url, "--dry-run"])
        assert dry.exit_code == 0
        assert dry.output.count("would POST /api/dashboards/db") == 5
    finally:
        server.shutdown()
        server.server_close()
