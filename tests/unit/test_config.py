"""Configuration validation: every invalid file gives exactly the errors listed here."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cablewatch.cli import app
from cablewatch.config import load
from cablewatch.errors import ConfigError

INVALID = Path(__file__).parent.parent / "data" / "invalid"

EXPECTED: dict[str, list[str]] = {
    "bus": [
        "bus.replicas: got 7, expected a whole number from 1 to 5",
        "bus.password: secrets are never read from the configuration file; name an "
        "environment variable in password_env or a file in password_file",
        "bus.urls: got 'http://127.0.0.1:4223', expected nats://HOST:PORT or tls://HOST:PORT",
        "bus.urls: got 'nats://127.0.0.1', expected nats://HOST:PORT or tls://HOST:PORT",
        "bus.stream: got 'cablewatch.rounds', expected a name without spaces, '.', '*', '>'",
        "bus.subject: got 'cablewatch..rounds', expected dot-separated tokens without '*' or "
        "'>' (e.g. cablewatch.rounds)",
        "bus.user: a user needs password_env or password_file",
        "bus.duplicate_window_s: must not exceed max_age_s (JetStream refuses it)",
    ],
    "bad-target": [
        "targets[1].protocols: got 'smtp' in the array, expected an array of strings from "
        "'icmp', 'tcp', 'http', 'dns', 'trace', 'ttft', 'stamp'",
        "targets[1].address: got '127.0.0.2 ', expected an IP address or a host name",
    ],
    "faster-than-light": [
        "regions[0].paths.ADC.path_km: path of 1,000 km is shorter than the great-circle "
        "distance 2,821 km from Singapore to Shantou: light in fibre cannot be that fast",
    ],
    "landing-point": [
        "regions[0].paths.ADC.landing_point: ADC has no landing point 'Changi' (has: Tuas)",
    ],
    "no-landing-station": ["landing_station: missing (expected a table)"],
    "out-of-range": ["regions[0].lat: got 95.0, expected a number from -90 to 90"],
    "path-both-ways": [
        "regions[0].paths.SJC: give exactly one of path_km or one_way_ms; got both",
    ],
    "region-id": [
        "regions[0].id: got 'Singapore City', expected a lowercase id such as 'kuala-lumpur'",
    ],
    "reports": [
        "sla[0].credits: the tier below 99 % must owe more than the tier below 99.9 % (got 10 % "
        "and 25 %)",
        "maintenance[0]: give exactly one of cable, region or station (what the work covers); "
        "got cable, region",
        "maintenance[1].cable: unknown cable 'SMW3' (known: ADC, SJC)",
        "maintenance[2].start: got 2026-11-10T02:00:00 (no offset: whose time?), expected a "
        "date-time with an offset, such as 2026-11-10T02:00:00Z",
        "maintenance[3].end: the window ends before it starts",
        "report.timezone: got 'Mars/Olympus', expected an IANA time zone such as 'UTC' or "
        "'Asia/Singapore'",
        "api.scopes.nobody-portal: got 'nobody', expected 'operator' or a customer of an [[sla]] "
        "(acme)",
    ],
    "round-longer-than-interval": [
        "probe.interval_s: got 5, but a round of 3 packets 3 s apart with a 1 s timeout takes "
        "up to 7 s: expected interval_s >= 7",
    ],
    "secret-in-file": [
        "sinks.influxdb.token: secrets are never read from the configuration file; name an "
        "environment variable in token_env or a file in token_file",
    ],
    "sla": [
        "sla[0].regions: unknown region 'jakarta' (known: singapore)",
        "sla[0].cables: unknown cable 'SMW3' (known: ADC, SJC)",
        "sla[0].availability_pct: got 100, expected less than 100: a 100 % objective leaves "
        "no error budget",
        "sla[1].customer: got 'Acme Corp', expected a lowercase id such as 'kuala-lumpur'",
        "sla[1].rtt_p95_ms: got -5, expected a number > 0",
        "sla[1].ttft_p95_ms: got 0, expected a number > 0",
        "detection.enter_rounds: got 0, expected a whole number from 1 to 100000",
        "detection.max_stretch: got 0.5, expected a number >= 1",
        "alerting.alertmanager_urls: give alertmanager_url (one) or alertmanager_urls (every "
        "replica of a cluster), not both",
        "alerting.alertmanager_url: got 'alertmanager:9093', expected an http:// or https:// URL",
    ],
    "syntax": [
        "(syntax): invalid TOML: Expected ']' at the end of a table declaration "
        "(at line 9, column 7)",
    ],
    "tag-names": [
        "cables[0].name: got 'ADC\\\\', expected a name without control characters or "
        "backslashes (line protocol cannot carry them)",
        "cables[0].landing_points[0].name: got 'Tuas\\nWest', expected a name without control "
        "characters or backslashes (line protocol cannot carry them)",
        "cables[1].name: got 'SJC\\t2', expected a name without control characters or "
        "backslashes (line protocol cannot carry them)",
        "cables[1].landing_points[0].name: got 'Tu\\\\as', expected a name without control "
        "characters or backslashes (line protocol cannot carry them)",
    ],
    "unknown-cable": [
        "regions[0].paths.SMW3: unknown cable 'SMW3' (known: ADC, SJC)",
        "targets[1].cable: unknown cable 'SEA-ME-WE-3' (known: ADC, SJC)",
    ],
    "bad-trace": [
        "landing_station.service_protocols: needs service_address: where to aim them",
        "cables[0].hop_prefixes: got '198.18.16.1/20': 198.18.16.1/20 has host bits set "
        "(expected a prefix, e.g. '198.18.16.0/20')",
        "cables[0].hop_names: got 'adc-*' (string), expected a non-empty array of strings",
        "targets[1].protocols: got 'traceroute' in the array, expected an array of strings "
        "from 'icmp', 'tcp', 'http', 'dns', 'trace', 'ttft', 'stamp'",
    ],
    "unknown-key": [
        "landing_station.lat: missing (expected a number from -90 to 90)",
        "landing_station.lattitude: unknown key (allowed here: id, lat, lon, name, "
        "service_address, service_protocols)",
    ],
    "wrong-type": ["probe.interval_s: got '5' (string), expected a number > 0"],
}


def test_every_invalid_file_has_an_expectation() -> None:
    assert sorted(p.stem for p in INVALID.glob("*.toml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_file_gives_exact_errors(name: str) -> None:
    path = INVALID / f"{name}.toml"
    with pytest.raises(ConfigError) as info:
        load(path)
    assert [f"{i.key}: {i.problem}" for i in info.value.issues] == EXPECTED[name]
    assert all(i.file == str(path) for i in info.value.issues)


@pytest.mark.parametrize("name", ["unknown-key", "faster-than-light"])
def test_config_check_prints_each_error_and_exits_2(name: str) -> None:
    path = INVALID / f"{name}.toml"
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"cablewatch: {path}: {e}" for e in EXPECTED[name]]
    assert "Traceback" not in result.output


def test_config_check_accepts_valid_files() -> None:
    for path in (Path(__file__).parent.parent / "data" / "valid-loopback.toml",):
        result = CliRunner().invoke(app, ["config", "check", str(path)])
        assert result.exit_code == 0, result.output
        assert "ok (2 cables, 1 regions, 2 targets)" in result.output


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "check", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == f"cablewatch: {tmp_path / 'nope.toml'}: (file): No such file or directory"
    )


def test_explicit_one_way_delay_sets_the_floor() -> None:
    topo = load(Path(__file__).parent.parent / "data" / "valid-loopback.toml").topology
    sjc = topo.region("singapore").paths["SJC"]
    assert sjc.floor_rtt_ms == pytest.approx(34.2)
    assert sjc.path_km == pytest.approx(17.1 / 0.0049)


def test_odd_but_safe_names_are_accepted() -> None:
    """Spaces, commas, '=', quotes and non-ASCII pass (they are escaped on the way out)."""
    topo = load(Path(__file__).parent.parent / "data" / "odd-names.toml").topology
    assert [c.name for c in topo.cables] == ['Asia Direct, "ADC"=1', "亚太二号 APCN-2"]
    assert topo.cable('asia direct, "adc"=1').landing_points[0].name == "Tuas = west, 'SG'"
