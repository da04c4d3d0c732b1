#!/usr/bin/env bash
# micro-mesh over HTTP/2: builds srv and the gRPC peers, measures. See bench/README.md
# ("gRPC and HTTP/2").
#
#   bench/grpc.sh                          # gRPC: srv vs grpc-go vs tonic, 3 rounds, 10 s per level
#   bench/grpc.sh --rounds 1 --duration 2  # a quick check that everything runs
#   bench/grpc.sh h2 [options]             # HTTP/2 vs HTTP/1.1 JSON on srv (no peers needed)
#   bench/grpc.sh all [options]            # both, one after the other
#   BENCH_PEERS=DIR bench/grpc.sh          # peers from elsewhere (default ../shared/bench)
#   MM_FLAGS='-log_level=warn' bench/grpc.sh   # srv's flags (default in bench/h2.py: MM_FLAGS)
#   RESULTS_DIR=bench/tmp/smoke bench/grpc.sh all --rounds 1 --duration 2   # results elsewhere
#
# Options go to `bench/h2.py grpc` (and from there to the shared grpc.py run: --rounds,
# --duration, --warmup, --conns, --streams, --threads, --sample, --out FILE) or to
# `bench/h2.py h2-vs-h1` (--rounds, --duration, --warmup, --conns, --streams, --threads, --out);
# `all` passes the same options to both, so only those they share.
# Writes $RESULTS_DIR/grpc.json + grpc.md and $RESULTS_DIR/h2-vs-h1.json + h2-vs-h1.md
# (RESULTS_DIR defaults to bench/results).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SCRATCH="$ROOT/bench/tmp"
mkdir -p "$SCRATCH"

MODE=grpc
case "${1:-}" in
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    grpc|h2|all) MODE=$1; shift ;;
esac

# apt_install PACKAGE...: installs Debian packages (root only), saying so; fails quietly otherwise.
APT_UPDATED=0
apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "   (not root or no apt-get: install them with: apt-get install -y $*)"
        return 1
    fi
    echo "   installing with apt-get: $*"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
            >>"$SCRATCH/apt.log" 2>&1; then
        [ "$APT_UPDATED" = 1 ] && return 1
        APT_UPDATED=1
        apt-get update -q >>"$SCRATCH/apt.log" 2>&1 || return 1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
            >>"$SCRATCH/apt.log" 2>&1 || return 1
    fi
}

missing=0
need() { # need COMMAND HOW-TO-INSTALL
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "error: $1 not found; install it with: $2" >&2
        missing=1
    fi
}
need python3 "apt-get install -y python3"
need cargo "https://rustup.rs"
[ "$missing" = 0 ] || exit 1
if ! command -v h2load >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
    echo "== h2load and curl (Debian nghttp2-client, curl) are missing"
    apt_install nghttp2-client curl || {
        echo "error: h2load/curl not found (apt-get install -y nghttp2-client curl)" >&2
        exit 1
    }
fi

# Everything started below is stopped on exit, Ctrl-C or failure: h2.py stops its servers and
# load generators (and the shared grpc.py with them) when it gets SIGTERM.
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

echo "== build: cargo build --release --example srv (nice 10)"
run_bg nice -n 10 cargo build --release --example srv

MM_ARGS=()
[ -n "${MM_FLAGS:-}" ] && MM_ARGS=("--mm-flags=$MM_FLAGS")
RESULTS_DIR=${RESULTS_DIR:-bench/results}

# ---------------------------------------------------------------------------
# gRPC peers: ../shared/bench (or BENCH_PEERS). A writable directory with grpc.py and both
# gRPC peers built is used in place; otherwise its sources are copied to bench/tmp/peers
# (git-ignored, the copy bench/run.sh makes too) and the gRPC peers are built there once.
# ---------------------------------------------------------------------------
SRC=${BENCH_PEERS:-$ROOT/../shared/bench}
WORK="$SCRATCH/peers"
LOG="$SCRATCH/peers-grpc-build.log"
TONIC=target/release/tonic-server
GRPCGO=target/go/grpc-go-server
GRPCGO_CLIENT=target/go/grpc-go-client
# prebuilt binaries that a read-only source may hold (bench/run.sh's list plus the gRPC peers)
BINS="target/release/axum-server target/release/client-ureq3 target/go/go-server
      target/go/go-micro-like target/go/go-micro-like-api $TONIC $GRPCGO $GRPCGO_CLIENT"

copy_sources() { # the peer sources (not target/, tmp/, results/) over $WORK
    (cd "$SRC" && tar -cf - --exclude=./target --exclude=./tmp --exclude=./results .) |
        (cd "$WORK" && tar -xf -)
    local b
    for b in $BINS; do
        if [ -x "$SRC/$b" ] && [ ! -x "$WORK/$b" ]; then
            mkdir -p "$WORK/$(dirname "$b")" && cp "$SRC/$b" "$WORK/$b"
        fi
    done
    chmod -R u+w "$WORK"
}

build_tonic() { # $1 = peers directory
    echo "   building tonic-server (cargo build --release -p peer-tonic, nice 10; log: ${LOG#"$ROOT"/})"
    local lock=""
    [ -f "$1/Cargo.lock" ] && lock="--locked"
    # shellcheck disable=SC2086 # $lock is one flag or nothing
    (cd "$1" && env -u CARGO_TARGET_DIR nice -n 10 cargo build --release $lock -p peer-tonic) \
        >>"$LOG" 2>&1 || echo "skip: tonic-server did not build (see ${LOG#"$ROOT"/})"
}

build_grpc_go() { # $1 = peers directory; grpc-go 1.33 from Debian, GOPATH mode, nothing downloaded
    # (the server for the gRPC benchmark and the chain, the client for bench.py's gRPC clients)
    if ! command -v go >/dev/null 2>&1; then
        echo "   Go is missing (Debian golang-go)"
        apt_install golang-go || { echo "skip: grpc-go-server needs Go (apt-get install -y golang-go)"; return 0; }
    fi
    local gocode=/usr/share/gocode/src f missing=""
    for f in google.golang.org/grpc/server.go google.golang.org/protobuf/proto/encode.go \
             github.com/golang/protobuf/proto/proto.go golang.org/x/net/http2/http2.go; do
        [ -f "$gocode/$f" ] || missing="$missing $f"
    done
    if [ -n "$missing" ]; then
        echo "   grpc-go's Debian sources are missing in $gocode:$missing"
        apt_install golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev || {
            echo "skip: grpc-go-server needs apt-get install -y golang-google-grpc-dev" \
                 "golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev"
            return 0
        }
    fi
    local gp="$1/target/gopath" name
    mkdir -p "$gp/src/benchgrpc" "$1/target/go"
    ln -sfn ../../../../proto/gopb "$gp/src/benchgrpc/pb"
    ln -sfn ../../../../peers/grpc-go-server "$gp/src/benchgrpc/grpc-go-server"
    ln -sfn ../../../../clients/grpc-go-client "$gp/src/benchgrpc/grpc-go-client"
    for name in grpc-go-server grpc-go-client; do
        [ -x "$1/target/go/$name" ] && continue
        echo "   building $name (go build, GOPATH mode, GOPROXY=off, nice 10)"
        (cd "$1" && GO111MODULE=off GOPATH="$gp:/usr/share/gocode" GOPROXY=off GOFLAGS="" \
            nice -n 10 go build -o "target/go/$name" "benchgrpc/$name") >>"$LOG" 2>&1 ||
            echo "skip: $name did not build (see ${LOG#"$ROOT"/})"
    done
}

PEERS=""
if [ "$MODE" != h2 ]; then
    echo "== gRPC peers: $SRC"
    if [ -w "$SRC" ] && [ -f "$SRC/grpc.py" ] && [ -x "$SRC/$TONIC" ] && [ -x "$SRC/$GRPCGO" ] &&
        [ -x "$SRC/$GRPCGO_CLIENT" ]; then
        PEERS=$(cd "$SRC" && pwd)
        echo "   using the built peers in place"
    else
        if [ ! -f "$WORK/grpc.py" ] || [ ! -f "$WORK/.copied" ]; then
            if [ ! -d "$SRC" ]; then
                echo "error: $SRC not found and no copy in bench/tmp/peers (set BENCH_PEERS=DIR" \
                     "to a copy of the team's bench/ with grpc.py)" >&2
                exit 1
            fi
            echo "   copying the peer sources to bench/tmp/peers"
            mkdir -p "$WORK"
            copy_sources
            touch "$WORK/.copied"
        fi
        : >"$LOG"
        [ -x "$WORK/$TONIC" ] || build_tonic "$WORK"
        { [ -x "$WORK/$GRPCGO" ] && [ -x "$WORK/$GRPCGO_CLIENT" ]; } || build_grpc_go "$WORK"
        PEERS=$WORK
    fi
    for b in "$TONIC" "$GRPCGO" "$GRPCGO_CLIENT"; do
        [ -x "$PEERS/$b" ] && echo "   built: ${PEERS#"$ROOT"/}/$b"
    done
fi

if [ "$MODE" != h2 ]; then
    echo "== measure: gRPC (bench/h2.py grpc)"
    run_bg python3 bench/h2.py grpc --peers "$PEERS" --out "$RESULTS_DIR/grpc.json" "${MM_ARGS[@]}" "$@"
fi
if [ "$MODE" != grpc ]; then
    echo "== measure: HTTP/2 vs HTTP/1.1 JSON (bench/h2.py h2-vs-h1)"
    run_bg python3 bench/h2.py h2-vs-h1 --out "$RESULTS_DIR/h2-vs-h1.json" "${MM_ARGS[@]}" "$@"
fi
