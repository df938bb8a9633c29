#!/usr/bin/env bash
# The main job: the lab demo, end to end, results on screen (run as root).
#
# Builds the network lab from the Shantou topology (a namespace per region, routers named after
# the cables' landing points, emulated cables), probes every region over every cable beside the
# physics floor, traces the cable a packet takes, runs every protocol from one region, cuts ADC
# and shows the effect, restores it, then runs an agent per region writing to InfluxDB and
# scraped by Prometheus (Debian's packages), with `cablewatch evaluate` posting to Alertmanager,
# through another ADC cut: one alert for the cable, and its resolution. Then the closed loop:
# `cablewatch serve` recommends a cable per region, a gateway stand-in in each region follows
# it, and a third ADC cut shows recommendation, switch and recovery times. Then it tears
# everything down. Only the lab's own namespaces are ever probed. Its lab is separate from one
# you may have up (own prefix and state dir).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/setup.sh"
if [[ $(id -u) -ne 0 ]]; then
    echo "demo: the lab needs root (network namespaces, TUN devices): run it as root" >&2
    exit 2
fi
export CABLEWATCH_LAB_DIR=/run/cablewatch-demo CABLEWATCH_LAB_PREFIX=cwdemo
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cw() { echo "\$ cablewatch $*"; "$venv/bin/cablewatch" "$@" || echo "(exit $?)"; }
trap '"$venv/bin/cablewatch" lab down >/dev/null 2>&1 || true' EXIT
"$venv/bin/cablewatch" lab down >/dev/null 2>&1 || true

step "The topology: path length and physics floor of every region x cable"
cw topology show

step "Bring the lab up"
cw lab up --mgmt-subnet 198.18.251.0/24

step "Probe every region over every cable, all at once"
cw lab survey -c 20

step "Which cable does a packet take? Paris traceroute from Singapore: each cable's address, then the service address"
cw lab exec singapore -- "$venv/bin/cablewatch" trace singapore

step "A BGP-like move: Jakarta's service route onto SJC, traced, and back"
cw lab reroute jakarta --via SJC
cw lab exec jakarta -- "$venv/bin/cablewatch" trace 198.19.0.1
cw lab reroute jakarta --via ADC

step "Every protocol from Tokyo, over each cable (ICMP, TCP, HTTP, DNS, time to first token, trace)"
cw lab exec tokyo -- "$venv/bin/cablewatch" probe tokyo

step "One-way delay each way over each cable from Singapore (STAMP, RFC 8762, to the landing station's reflector; the lab has one clock)"
cw lab exec singapore -- "$venv/bin/cablewatch" stamp 198.19.1.1 198.19.2.1 198.19.3.1 --clock-error-ms 0 --region singapore

step "The station routes its replies to Singapore back over SJC: each path keeps its way out, the way back is named SJC"
cw lab reroute singapore --via SJC --return
cw lab exec singapore -- "$venv/bin/cablewatch" stamp 198.19.1.1 198.19.2.1 198.19.3.1 --clock-error-ms 0 --region singapore
cw lab reroute singapore --return

step "Cut ADC"
cw lab cut ADC
cw lab survey -c 10 -W 0.5

step "Restore ADC"
cw lab restore ADC
cw lab survey -c 10

step "Agents in every region -> InfluxDB and Prometheus -> evaluator -> Alertmanager, through an ADC cut"
"$venv/bin/python" "$root/scripts/demo_pipeline.py" 2>/dev/null

step "Closed loop: agents -> cablewatch serve (failover, gateway API) -> a gateway stand-in per region, through an ADC cut"
"$venv/bin/python" "$root/scripts/demo_loop.py"

step "Tear the lab down"
cw lab down
trap - EXIT
