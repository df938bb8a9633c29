#!/usr/bin/env bash
# The test command: set up (Debian packages, .venv), the quick check (ruff, mypy --strict, the
# unit tests: scripts/check.sh), then every other test (integration: real sockets, servers,
# and the lab's namespaces, which need root and must not be skipped in CI).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/setup.sh"
cd "$root"
echo "== quick check (ruff, mypy --strict, unit tests)"
CABLEWATCH_VENV="$venv" "$root/scripts/check.sh"
echo "== integration tests"
"$venv/bin/python" -m pytest -p no:cacheprovider -m "not unit" "$@"
