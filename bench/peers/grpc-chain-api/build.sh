#!/usr/bin/env bash
# Builds grpc-chain-api (bench id grpcgo-chain) offline: grpc-go 1.33 from Debian
# (/usr/share/gocode), GOPATH mode, GOPROXY=off, nice 10. The generated protobuf code is copied
# from the peers directory (PEERS/proto/gopb) into the scratch GOPATH, never committed here.
#
#   bench/peers/grpc-chain-api/build.sh PEERS OUT   # e.g. bench/tmp/peers bench/tmp/go/grpc-chain-api
set -euo pipefail

[ $# -eq 2 ] || { sed -n '2,6p' "$0" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
PEERS=$(cd "$1" && pwd)
OUT=$2
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
GP="$ROOT/bench/tmp/grpc-chain-gopath"

[ -f "$PEERS/proto/gopb/example_grpc.pb.go" ] || { echo "no $PEERS/proto/gopb" >&2; exit 1; }
[ -f /usr/share/gocode/src/google.golang.org/grpc/server.go ] ||
    { echo "grpc-go missing: apt-get install -y golang-google-grpc-dev" >&2; exit 1; }

rm -rf "$GP/src/benchgrpc"
mkdir -p "$GP/src/benchgrpc/pb" "$GP/src/benchgrpc/grpc-chain-api" "$(dirname "$OUT")"
cp "$PEERS"/proto/gopb/*.go "$GP/src/benchgrpc/pb/"
cp "$HERE/main.go" "$GP/src/benchgrpc/grpc-chain-api/"
GO111MODULE=off GOPATH="$GP:/usr/share/gocode" GOPROXY=off GOFLAGS="" \
    nice -n 10 go build -o "$OUT" benchgrpc/grpc-chain-api
