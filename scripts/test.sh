#!/usr/bin/env bash
# The test command: set up (Debian packages, .venv), then ruff, mypy --strict and pytest.
# Run as root: the namespace tests need it (and must not be skipped in CI).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/setup.sh"
cd "$root"
echo "== static checks (ruff, mypy --strict)"
CABLEWATCH_VENV="$venv" "$root/scripts/check.sh"
echo "== tests"
"$venv/bin/python" -m pytest -p no:cacheprovider "$@"
