#!/usr/bin/env bash
# micro-mesh benchmark: build, prepare the peers, measure, chart. See bench/README.md.
#
#   bench/run.sh                          # 3 interleaved rounds, 10 s per wrk level (~15-20 min)
#   bench/run.sh --rounds 1 --duration 2  # quick check that everything runs
#   bench/run.sh --wait-load 1.5          # first wait (up to 20 min) for a quiet machine
#   BENCH_PEERS=/path/to/bench bench/run.sh   # peers from elsewhere (default ../shared/bench)
#
# Every option is passed to `bench/bench.py run` (`python3 bench/bench.py run --help`).
# Writes bench/results/latest.json and bench/results/chart.svg, prints the tables.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SCRATCH="$ROOT/bench/tmp"
mkdir -p "$SCRATCH"

case "${1:-}" in -h|--help) sed -n '2,10p' "$0"; exec python3 bench/bench.py run --help ;; esac

missing=0
need() { # need COMMAND HOW-TO-INSTALL
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "error: $1 not found; install it with: $2" >&2
        missing=1
    fi
}
need wrk "apt-get install -y wrk"
need python3 "apt-get install -y python3"
need strip "apt-get install -y binutils"
need cargo "https://rustup.rs"
[ "$missing" = 0 ] || exit 1

# Everything started below is killed on exit, Ctrl-C or failure. bench.py also stops the
# servers, wrk and clients it started (each in its own process group) when it gets SIGTERM.
CHILD=""
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
        kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

run_bg() { # run a command in the background, remember it, wait for it
    "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

echo "== build: cargo build --release --examples --bins"
run_bg cargo build --release --examples --bins

# ---------------------------------------------------------------------------
# peers: ../shared/bench (or BENCH_PEERS). A writable directory whose peers are already
# built is used in place; otherwise its sources are copied to bench/tmp/peers (git-ignored)
# and built there once; later runs reuse that build (rm -rf bench/tmp/peers to rebuild).
# ---------------------------------------------------------------------------
SRC=${BENCH_PEERS:-$ROOT/../shared/bench}
WORK="$SCRATCH/peers"
PEERS=""
BINS="target/release/axum-server target/release/client-ureq3 target/go/go-server
      target/go/go-micro-like target/go/go-micro-like-api"

all_built() {
    local b
    for b in $BINS; do [ -x "$1/$b" ] || return 1; done
}

build_peers() { # build what is missing in $1; a peer that fails is skipped later
    local dir=$1 log="$SCRATCH/peers-build.log"
    : >"$log"
    if [ ! -x "$dir/target/release/axum-server" ] || [ ! -x "$dir/target/release/client-ureq3" ]; then
        echo "   building axum-server and client-ureq3 (cargo, nice 10; log: bench/tmp/peers-build.log)"
        (cd "$dir" && env -u CARGO_TARGET_DIR nice -n 10 \
            cargo build --release --bin axum-server --bin client-ureq3) >>"$log" 2>&1 ||
            echo "skip: axum-server/client-ureq3 did not build (see bench/tmp/peers-build.log)"
    fi
    if command -v go >/dev/null 2>&1; then
        mkdir -p "$dir/target/go"
        if [ ! -x "$dir/target/go/go-server" ]; then
            echo "   building go-server (go, GOPROXY=off)"
            (cd "$dir/peers/go-server" && GOPROXY=off GOFLAGS=-mod=mod nice -n 10 \
                go build -o ../../target/go/go-server .) >>"$log" 2>&1 ||
                echo "skip: go-server did not build (see bench/tmp/peers-build.log)"
        fi
        if [ -f /usr/share/gocode/src/github.com/gorilla/mux/mux.go ]; then
            for name in go-micro-like go-micro-like-api; do
                [ -x "$dir/target/go/$name" ] && continue
                echo "   building $name (go + Debian gorilla/mux, GOPROXY=off)"
                (cd "$dir/peers/go-micro-like" && GOPROXY=off GOFLAGS=-mod=mod nice -n 10 \
                    go build -o "../../target/go/$name" "./cmd/$name") >>"$log" 2>&1 ||
                    echo "skip: $name did not build (see bench/tmp/peers-build.log)"
            done
        else
            echo "skip: go-micro-like peers need gorilla/mux (apt-get install -y golang-github-gorilla-mux-dev)"
        fi
    else
        echo "skip: Go peers need Go (apt-get install -y golang-go golang-github-gorilla-mux-dev)"
    fi
    command -v nginx >/dev/null 2>&1 ||
        echo "skip: nginx peer needs nginx (apt-get install -y nginx-light)"
}

echo "== peers: $SRC"
if [ ! -d "$SRC" ]; then
    echo "skip: all peers: $SRC not found (set BENCH_PEERS=DIR to a copy of the team's bench/)"
elif [ -w "$SRC" ] && all_built "$SRC"; then
    PEERS=$(cd "$SRC" && pwd)
    echo "   using the built peers in place"
else
    if [ ! -f "$WORK/.copied" ]; then
        echo "   copying the peer sources to bench/tmp/peers"
        rm -rf "$WORK"
        mkdir -p "$WORK"
        (cd "$SRC" && tar -cf - --exclude=./target --exclude=./tmp --exclude=./results .) |
            (cd "$WORK" && tar -xf -)
        # binaries already built in a read-only source are reused, not rebuilt
        for b in $BINS; do
            if [ -x "$SRC/$b" ]; then mkdir -p "$WORK/$(dirname "$b")" && cp "$SRC/$b" "$WORK/$b"; fi
        done
        chmod -R u+w "$WORK"
        touch "$WORK/.copied"
    fi
    all_built "$WORK" || build_peers "$WORK" # foreground: Ctrl-C reaches cargo/go directly
    PEERS=$WORK
fi

echo "== measure"
run_bg python3 bench/bench.py run ${PEERS:+--peers "$PEERS"} "$@"
echo "== chart"
run_bg python3 bench/chart.py bench/results/latest.json bench/results/chart.svg
