"""cablewatch as a package: `python -m build` makes a wheel and an sdist of this checkout; the
wheel, installed into a new virtualenv (nothing of this checkout on its path), runs
`cablewatch --version`, `topology show` and `config check` on the packaged topology, and
carries the report templates and the lab scenarios."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from cablewatch import __version__

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_installs_into_a_clean_virtualenv_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [wheel] = dist.glob("cablewatch-*.whl")
    [sdist] = dist.glob("cablewatch-*.tar.gz")
    assert wheel.name == f"cablewatch-{__version__}-py3-none-any.whl"
    assert sdist.stat().st_size > 10_000
    names = zipfile.ZipFile(wheel).namelist()
    for wanted in ("cablewatch/cli.py", "cablewatch/reports/templates/report.html.j2",
                   "cablewatch/topology/data/shantou.toml", "cablewatch/py.typed",
                   "cablewatch/lab/scenarios/default.toml"):  # fmt: skip
        assert wanted in names, wanted
    # the harness for tests, benchmarks and the demo is not the product
    assert not [n for n in names if n.startswith(("cablewatch/tests/", "cablewatch/bench/",
                                                  "cablewatch/harness/"))]  # fmt: skip
    assert "cablewatch/lab/manager.py" in names  # the product's lab (`cablewatch lab`) is
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    cw = str(venv / "bin" / "cablewatch")

    def run(*args: str) -> str:
        env = {"PATH": "/usr/bin:/bin", "COLUMNS": "200"}
        done = subprocess.run([cw, *args], capture_output=True, text=True, cwd=tmp_path,
                              check=False, env=env)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    assert run("--version").strip() == f"cablewatch {__version__}"
    assert "singapore" in run("topology", "show")
    packaged = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import cablewatch.config as c; print(c.default_path())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert packaged.startswith(str(venv))  # the installed copy, not this checkout
    assert "ok (3 cables, 9 regions, 3 targets)" in run("config", "check", packaged)
