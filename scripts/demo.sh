#!/usr/bin/env bash
# The main job, until the lab lands: a loopback spot-check tour of cablewatch.
# Shows the Shantou topology with its physics floors, then probes real services started here on
# loopback with every protocol, then a target whose replies are dropped (inside a namespace of
# its own, root only). Touches nothing but loopback and its own namespace.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/setup.sh"
cw() { echo; echo "\$ cablewatch $*"; "$venv/bin/cablewatch" "$@" || echo "(exit $?)"; }

cw topology show
cw ping 127.0.0.1 ::1 127.0.0.53 -c 5 -i 0.05

workdir=$(mktemp -d)
ns="cablewatch-demo-$$"
cleanup() {
    kill "${server_pid:-}" 2>/dev/null || true
    ip netns delete "$ns" 2>/dev/null || true
    rm -rf "$workdir"
}
trap cleanup EXIT
"$venv/bin/python" "$root/scripts/demo_services.py" "$workdir/ports" &
server_pid=$!
for _ in $(seq 200); do [[ -s "$workdir/ports" ]] && break; sleep 0.05; done
[[ -s "$workdir/ports" ]] || { echo "demo: loopback services did not start" >&2; exit 1; }
read -r tcp_port http_port dns_port <"$workdir/ports"

cw tcp "127.0.0.1:$tcp_port" "127.0.0.1:1"
cw http "http://127.0.0.1:$http_port/healthz"
cw dns api.shantou.cablewatch.lab --server "127.0.0.1:$dns_port"

if [[ $(id -u) -eq 0 ]]; then
    echo; echo "# a namespace whose echo replies are dropped by nftables: 100 % loss, exit 1"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    printf '%s\n' "add table inet demo" \
        "add chain inet demo input { type filter hook input priority 0; }" \
        "add rule inet demo input icmp type echo-reply drop" | ip netns exec "$ns" nft -f -
    echo "\$ ip netns exec $ns cablewatch ping 127.0.0.1 -c 3 -W 0.5"
    ip netns exec "$ns" "$venv/bin/cablewatch" ping 127.0.0.1 -c 3 -W 0.5 || echo "(exit $?)"
fi
