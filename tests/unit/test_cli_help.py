"""The CLI's help reads as written: section names in brackets survive, flags show no type."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cablewatch.cli import app


def test_serve_help_names_its_sections() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "the gateway API ([api]) and signed webhooks ([[webhooks]])" in text
    assert "(default: [evaluator] listen_*)" in text


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"], ["lab", "up", "--help"]])
def test_flags_show_no_value_type(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0
    assert "<bool>" not in result.output
    assert "--help" in result.output


def test_version() -> None:
    from cablewatch import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"cablewatch {__version__}"
