#!/usr/bin/env bash
# Context switches and CPU per request of the chain's processes (perf stat), next to srv alone.
#
#   bench/chain-profile.sh [CONNS] [--one-session] [--grpc]
#
# Builds the examples in release mode, starts srv and api on free loopback ports, runs
# `wrk -t2 -cCONNS -d6s` (bench/post.lua) against srv, then against api -> srv, and prints
# µs of CPU and context switches per request for each process over a 4 s window. By default
# srv and api each get a session of their own (as bench/run.sh does); --one-session keeps them
# in this one (see bench/README.md, "Scheduling groups"). --grpc: api calls srv over gRPC
# (`--client grpc`). Needs wrk and perf (linux-perf).
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-16}
sid=setsid
client=http
for arg in "${@:2}"; do
    case $arg in
        --one-session) sid= ;;
        --grpc) client=grpc ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done
for tool in wrk perf; do command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }; done
cargo build --release --examples -q
bin=${CARGO_TARGET_DIR:-target}/release/examples
tmp=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p1=$(port); p2=$(port)
export MICRO_LOG_LEVEL=warn
$sid "$bin/srv" -server_address="127.0.0.1:$p1" >/dev/null 2>&1 & srv=$!
$sid "$bin/api" -server_address="127.0.0.1:$p2" -client_call_address="127.0.0.1:$p1" --client "$client" >/dev/null 2>&1 & api=$!
trap 'kill $srv $api 2>/dev/null; rm -rf "$tmp"' EXIT
sleep 0.5
measure() { # label port path pid...
    local label=$1 port=$2 path=$3 w p rps perfs=()
    shift 3
    wrk -t2 -c"$conns" -d6s -s bench/post.lua "http://127.0.0.1:$port/$path" >"$tmp/wrk" & w=$!
    sleep 1
    for p in "$@"; do
        perf stat -e task-clock,context-switches -x, -o "$tmp/$p" -p "$p" -- sleep 4 & perfs+=($!)
    done
    wait "$w" "${perfs[@]}"
    rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk")
    for p in "$@"; do
        awk -F, -v l="$label" -v n="$(cat "/proc/$p/comm")" -v rps="$rps" \
            '/task-clock/ {t=$1} /context-switches/ {c=$1}
             END {printf "%-7s %-4s %8.0f rps  %5.1f us CPU/req  %4.2f switches/req\n", l, n, rps, t*1000/(4*rps), c/(4*rps)}' "$tmp/$p"
    done
}
measure single "$p1" Example.Call "$srv"
measure chain "$p2" example/call "$api" "$srv"
