#!/usr/bin/env bash
# Install what cablewatch needs on a fresh Debian machine (run as root): Debian packages and a
# virtualenv in .venv with cablewatch installed (editable) and its development tools.
# Idempotent and quick when nothing changed. Sourced by demo.sh and test.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${CABLEWATCH_VENV:-$root/.venv}

apt_packages=(
    python3 python3-venv python3-dev gcc   # the interpreter, venv, and builds of wheels
    iproute2 nftables util-linux           # namespaces, veth, drop rules, setpriv
    iputils-ping traceroute fping          # reference tools (fping: the engine's benchmark)
    openssl                                # self-signed certificates for HTTPS tests
    influxdb prometheus victoria-metrics   # the system of record, metrics, the v2 write API
    prometheus-alertmanager                # alerts (and amtool, which checks its config)
    nats-server                            # the bus past one machine (JetStream, [bus])
    wrk                                    # HTTP load for bench/api.py
    libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core  # WeasyPrint prints the PDF reports
    poppler-utils chromium                 # reports and pages checked as a person sees them
    systemd                                # systemd-analyze checks the units in deploy/systemd
)

missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: missing Debian packages (${missing[*]}); run as root to install them" >&2
        exit 2
    fi
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: cablewatch needs Python 3.11 or newer; $python is $("$python" -V 2>&1)" >&2
    exit 2
fi

stamp="$venv/.cablewatch-installed"
want=$(cat "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup: creating $venv" >&2
    "$python" -m venv "$venv"
fi
if [[ ! -f "$stamp" || $(cat "$stamp") != "$want" ]]; then
    echo "setup: installing cablewatch and its tools into $venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check -e "$root[dev]" 2>&1 \
        | grep -v "^WARNING: Location" >&2 || true
    # grafana-client needs niquests, whose urllib3-future replaces urllib3 in place (a .pth
    # file re-copies it at every start) and breaks requests (schemathesis). Keep them apart,
    # as urllib3-future documents: build it with URLLIB3_NO_OVERRIDE, then restore urllib3.
    URLLIB3_NO_OVERRIDE=1 "$venv/bin/pip" install -q --disable-pip-version-check \
        --force-reinstall --no-deps --no-binary urllib3-future urllib3-future 2>&1 \
        | grep -v "^WARNING: Location" >&2 || true
    "$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps \
        urllib3 2>&1 | grep -v "^WARNING: Location" >&2 || true
    "$venv/bin/python" -c "import cablewatch.cli" # fail here, not later, if the install broke
    "$venv/bin/python" -c "import importlib.metadata as m, sys, urllib3
sys.exit(urllib3.__version__ != m.version('urllib3') and 'setup: urllib3-future overrides urllib3')"
    echo "$want" >"$stamp"
fi
