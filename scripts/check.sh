#!/usr/bin/env bash
# The quick check before every commit (under a minute here): ruff (lint + format), mypy
# --strict over the package, tests and benchmarks, and the unit tests (no network, no server,
# no root). The repository root is the package `cablewatch` (pyproject maps it); mypy sees it
# through a temporary link named `cablewatch`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${CABLEWATCH_VENV:-$root/.venv}
cd "$root"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
link=$(mktemp -d)
trap 'rm -rf "$link"' EXIT
ln -s "$root" "$link/cablewatch"
(cd "$link" && "$venv/bin/mypy" --config-file "$root/pyproject.toml" -p cablewatch) \
    | sed "s#^cablewatch/##"
MYPYPATH="$link:$root/tests:$root/bench" "$venv/bin/mypy" --config-file "$root/pyproject.toml" \
    --explicit-package-bases tests bench scripts
"$venv/bin/python" -m pytest -p no:cacheprovider -q -m unit
