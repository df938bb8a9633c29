"""The InfluxDB sinks and readers against real servers: influxd 1.x (v1 /write, InfluxQL,
db init) and VictoriaMetrics (v2 write API through influxdb-client)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cablewatch.collectors.dbinit import init_database
from cablewatch.collectors.influx import InfluxQL, InfluxV1Writer, InfluxV2Writer
from cablewatch.collectors.settings import InfluxSink
from cablewatch.errors import SinkError
from cablewatch.harness.stack import influxd, victoria_metrics

pytestmark = pytest.mark.servers

NOW = time.time_ns()
LINES = [
    r"ping,region=kuala\ lumpur,cable=APCN-2,target=198.19.3.1,note=a\=b\,c rtt_ms=35.5,"
    rf'status="o\"k" {NOW}',
    f"ping,region=胡志明市,cable=ADC,target=198.19.1.1 rtt_ms=23.4 {NOW + 1}",
]


def test_v1_write_query_and_escaping_round_trip(tmp_path: Path) -> None:
    with influxd(tmp_path) as server:
        sink = InfluxSink(url=server.url, mode="v1", database="cw")

        async def go() -> list[dict[str, Any]]:
            ql, writer = InfluxQL(sink), InfluxV1Writer(sink, secret=None)
            try:
                await init_database(ql)
                await writer.write(LINES)
                await writer.write(LINES)  # a replay: the same points, not new ones
                return await ql.query('SELECT * FROM "ping" GROUP BY *')
            finally:
                await ql.close()
                await writer.close()

        series = asyncio.run(go())
    tags = sorted((s["tags"]["region"], s["tags"]["cable"], s["tags"]["note"]) for s in series)
    assert tags == [("kuala lumpur", "APCN-2", "a=b,c"), ("胡志明市", "ADC", "")]
    rows = {s["tags"]["region"]: s["values"] for s in series}
    assert len(rows["kuala lumpur"]) == 1  # replay did not double
    assert 'o"k' in rows["kuala lumpur"][0]


def test_db_init_is_idempotent(tmp_path: Path) -> None:
    with influxd(tmp_path) as server:
        sink = InfluxSink(url=server.url, mode="v1", database="cw")

        async def go() -> tuple[list[str], list[str], list[dict[str, Any]], list[Any]]:
            ql = InfluxQL(sink)
            try:
                # a database of an earlier version, with its continuous queries
                await ql.query('CREATE DATABASE "cw"', database="")
                await ql.query('CREATE CONTINUOUS QUERY "ping_1m" ON "cw" BEGIN SELECT '
                               'count("packets_transmitted") INTO "cw"."autogen"."x" FROM '
                               '"ping" GROUP BY time(1m) END', database="")  # fmt: skip
                first = await init_database(ql)
                second = await init_database(ql, rollup_days=365)
                queries = await ql.query("SHOW CONTINUOUS QUERIES", database="")
                return first, second, await ql.query('SHOW RETENTION POLICIES ON "cw"'), queries
            finally:
                await ql.close()

        first, second, policies, queries = asyncio.run(go())
    assert "continuous query ping_1m: dropped (the evaluator's rollups replace it)" in first
    assert not [ln for ln in second if "continuous query" in ln]
    assert not [s for s in queries if s.get("name") == "cw" and s.get("values")]
    assert "retention policy rollup: 365 days (altered)" in second
    values = {row[0]: row for row in policies[0]["values"]}
    assert values["raw"][1] == "720h0m0s"  # 30 days; a month's rollups live in "rollup"
    assert values["raw"][4] is True
    assert values["rollup"][1] == "8760h0m0s"


def test_wrong_credentials_name_the_sink(tmp_path: Path) -> None:
    with influxd(tmp_path, auth=True) as server:
        sink = InfluxSink(url=server.url, mode="v1", database="cw", username="admin")

        async def go(secret: str) -> None:
            writer = InfluxV1Writer(sink, secret=secret)
            try:
                await writer.write(LINES)
            finally:
                await writer.close()

        with pytest.raises(SinkError) as info:
            asyncio.run(go("wrong"))
        assert info.value.kind == "auth"
        assert str(info.value) == (
            f"influxdb sink {server.url}: write refused: authentication failed (HTTP 401); "
            "check username and token_env / token_file"
        )
        assert "wrong" not in str(info.value)
        with pytest.raises(SinkError, match="database not found") as missing:
            asyncio.run(go("s3cret"))  # right password, but no database yet
        assert missing.value.kind == "not_found"


def test_unreachable_sink(tmp_path: Path) -> None:
    sink = InfluxSink(url="http://127.0.0.1:9", mode="v1", database="cw")

    async def go() -> None:
        writer = InfluxV1Writer(sink, secret=None, timeout_s=2)
        try:
            await writer.write(LINES)
        finally:
            await writer.close()

    with pytest.raises(SinkError) as info:
        asyncio.run(go())
    assert info.value.kind == "unreachable"


def test_v2_write_api_against_victoria_metrics(tmp_path: Path) -> None:
    now = time.time_ns()
    lines = [f"ping,region=singapore,cable=ADC rtt_ms={30 + i / 10} {now - i * 1_000_000_000}"
             for i in range(5)]  # fmt: skip
    with victoria_metrics(tmp_path) as server:
        sink = InfluxSink(url=server.url, mode="v2", database="", org="noc", bucket="cablewatch")

        async def go() -> None:
            writer = InfluxV2Writer(sink, secret="any-token")
            try:
                await writer.write(lines)
            finally:
                await writer.close()

        asyncio.run(go())
        httpx.get(f"{server.url}/internal/force_flush", timeout=10)
        deadline = time.monotonic() + 20
        count = 0.0
        while time.monotonic() < deadline and count < 5:
            r = httpx.get(f"{server.url}/api/v1/query",
                          params={"query": 'count_over_time(ping_rtt_ms{region="singapore"}[1h])'},
                          timeout=10).json()  # fmt: skip
            results = r["data"]["result"]
            count = float(results[0]["value"][1]) if results else 0.0
            time.sleep(0.2)  # VictoriaMetrics makes new points searchable within seconds
        assert count == 5


def test_every_accepted_odd_name_comes_back_by_its_exact_tag_value(tmp_path: Path) -> None:
    """Every name of tests/data/odd-names.toml that becomes a tag (station, regions, cables,
    landing points) is written as a point through our line protocol, then read back from a
    real influxd with a WHERE on its exact value: one point each, the tag unchanged."""
    from cablewatch.collectors.influx import literal
    from cablewatch.collectors.lineprotocol import line
    from cablewatch.config import load

    topo = load(Path(__file__).parents[1] / "data" / "odd-names.toml").topology
    names = {
        "landing_station": [topo.landing_station.id],
        "region": [r.id for r in topo.regions],
        "cable": [c.name for c in topo.cables],
        "landing_point": [lp.name for c in topo.cables for lp in c.landing_points],
    }
    lines = [line("odd", {key: name}, {"n": k}, NOW + k)
             for key, values in names.items() for k, name in enumerate(values)]  # fmt: skip
    with influxd(tmp_path) as server:
        sink = InfluxSink(url=server.url, mode="v1", database="cw")

        async def go() -> dict[tuple[str, str], list[Any]]:
            ql, writer = InfluxQL(sink), InfluxV1Writer(sink, secret=None)
            try:
                await ql.query('CREATE DATABASE "cw"', database="")
                await writer.write(lines)
                found = {}
                for key, values in names.items():
                    for name in values:
                        q = f'SELECT "n" FROM "odd" WHERE "{key}" = {literal(name)} GROUP BY *'
                        found[(key, name)] = await ql.query(q)
                return found
            finally:
                await ql.close()
                await writer.close()

        found = asyncio.run(go())
    assert len(found) == 6
    for (key, name), series in found.items():
        assert len(series) == 1, (key, name, series)
        assert series[0]["tags"][key] == name
        assert len(series[0]["values"]) == 1
