"""Every package of the product is in the wheel: pyproject lists packages one by one (the
repository root is the package), so a new folder left out installs a `cablewatch` whose
commands fail on import (a fresh-clone run caught `cablewatch.reflector` missing)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = {"harness"}
"""The test and benchmark harness: not in the wheel on purpose (tests/layers.py)."""


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])  # fmt: skip
    found = {"cablewatch"} | {
        "cablewatch." + ".".join(init.parent.relative_to(ROOT).parts)
        for init in ROOT.glob("*/**/__init__.py")
        if init.parent.relative_to(ROOT).parts[0] not in {".venv", "build", "tests", *NOT_SHIPPED}
    }
    assert found == listed
