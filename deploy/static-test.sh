#!/usr/bin/env bash
# Static-binary test: builds srv and api the way the Dockerfile does (gnu target, crt-static,
# release profile), checks they are static and under the size budget, and runs each in an
# image-equivalent chroot (the binary, /etc/hosts, /etc/resolv.conf, nothing else) as uid 65532
# inside a private network namespace (loopback only, so no lookup or packet can leave it):
#   - srv serves POST /Example.Call;
#   - api resolves go-micro-srv-sample through the chroot's /etc/hosts (glibc's static `files`
#     NSS module; no /etc/nsswitch.conf, no libnss_*.so) and the chain api -> srv works;
#   - an api whose /etc/hosts lacks the name answers 503 "host not found", so the success above
#     really came from /etc/hosts;
#   - SIGTERM stops srv with exit status 0 within a bounded time.
# Prints the binary sizes and the image-equivalent sizes. Needs root; skips visibly otherwise.
set -euo pipefail
# shellcheck source=deploy/lib.sh source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
require_root "static-binary test"

START=$SECONDS
BUDGET=$((3 * 1024 * 1024)) # 3 MiB per image
apt_need ip iproute2
apt_need curl curl
apt_need readelf binutils

WORK=$(mktemp -d /tmp/micro-mesh-static.XXXXXX)
NS=mmst$$
PIDS=()
cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if ip netns list 2>/dev/null | grep -qw "$NS"; then
        for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "$NS" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && [ -d "$WORK" ]; then
        for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done >&2
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# -- the release profile keeps unwinding: the router catches handler panics with catch_unwind.
if sed -n '/^\[profile\.release\]/,/^\[/p' "$DEPLOY_ROOT/Cargo.toml" | grep -Eq '^\s*panic\s*=\s*"abort"'; then
    die '[profile.release] sets panic = "abort"; handler panics would kill the process'
fi

build_static

# -- static, stripped, small.
for ex in srv api; do
    bin=$STATIC_BIN_DIR/$ex
    [ -x "$bin" ] || die "$bin missing"
    if readelf -lW "$bin" | grep -q 'program interpreter'; then die "$ex has a program interpreter (dynamic)"; fi
    if readelf -dW "$bin" | grep -q '(NEEDED)'; then die "$ex needs shared libraries: $(readelf -dW "$bin" | grep NEEDED)"; fi
    if readelf -SW "$bin" | grep -q ' \.symtab '; then die "$ex is not stripped"; fi
    printf 'ok   %s is static (no interpreter, no NEEDED) and stripped\n' "$ex"
done

HOSTS_BASE='127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback'
# A nameserver on the namespace's own loopback, where nothing listens: a name missing from
# /etc/hosts fails fast (connection refused) and no query can leave the namespace.
RESOLV='nameserver 127.0.0.1
options timeout:1 attempts:1'

make_root "$WORK/srv" "$STATIC_BIN_DIR/srv" "$HOSTS_BASE" "$RESOLV"
make_root "$WORK/api" "$STATIC_BIN_DIR/api" "$HOSTS_BASE
127.0.0.1	go-micro-srv-sample" "$RESOLV"
make_root "$WORK/api-nohost" "$STATIC_BIN_DIR/api" "$HOSTS_BASE" "$RESOLV"
for d in srv api api-nohost; do
    files=$(cd "$WORK/$d" && find . -mindepth 1 ! -type d | sort | tr '\n' ' ')
    expect "chroot $d holds only the binary and two /etc files" "./etc/hosts ./etc/resolv.conf ./sample " "$files"
done

ip netns add "$NS"
ip -n "$NS" link set lo up

# run NAME ROOT ARGS...: runs /sample in ROOT as 65532:65532 in the namespace, in the background.
run() {
    local name=$1 root=$2
    shift 2
    ip netns exec "$NS" chroot --userspec=65532:65532 "$root" /sample "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
}
run srv "$WORK/srv" -server_address=127.0.0.1:9080
SRV_PID=$!
# api listens beside srv in the one namespace, so on 8080; it calls srv by the name rule.
run api "$WORK/api" -server_address=127.0.0.1:8080 -client_call_address=:9080
run api-nohost "$WORK/api-nohost" -server_address=127.0.0.1:8081 -client_call_address=:9080
wait_http "$NS" http://127.0.0.1:9080/
wait_http "$NS" http://127.0.0.1:8080/
wait_http "$NS" http://127.0.0.1:8081/
expect "srv runs as uid 65532" "65532" "$(ps -o uid= -p "$SRV_PID" | tr -d ' ')"

c() { ip netns exec "$NS" curl -s --noproxy '*' --max-time 5 "$@"; }
expect "srv serves POST /Example.Call" '{"msg":"Hello Hobo"}' \
    "$(c -XPOST -H 'Content-Type: application/json' -d '{"name":"Hobo"}' http://127.0.0.1:9080/Example.Call)"
expect "srv error JSON for an empty name" '400' \
    "$(c -o /dev/null -w '%{http_code}' -XPOST -H 'Content-Type: application/json' -d '{}' http://127.0.0.1:9080/Example.Call)"
expect "api -> go-micro-srv-sample:9080 (via the chroot's /etc/hosts) -> srv" '{"msg":"Hello Hobo"}' \
    "$(c 'http://127.0.0.1:8080/example/call?name=Hobo')"
nohost=$(c -w ' %{http_code}' 'http://127.0.0.1:8081/example/call?name=Hobo')
case "$nohost" in
*'host not found'*' 503') printf 'ok   api without the /etc/hosts entry: 503 host not found\n' ;;
*) die "api without the /etc/hosts entry: want a 503 'host not found', got: $nohost" ;;
esac

# -- SIGTERM, as the kubelet sends it: srv exits 0 within the pod's grace period (30 s).
kill -TERM "$SRV_PID"
timeout 30 tail --pid="$SRV_PID" -s 0.1 -f /dev/null || die "srv still running 30 s after SIGTERM"
status=0
wait "$SRV_PID" || status=$?
expect "srv exits 0 on SIGTERM" 0 "$status"

# -- sizes.
echo
printf '%-4s %12s %22s %24s\n' "" "binary (B)" "image layer (MiB)" "image-equivalent (B)"
for ex in srv api; do
    bin=$(stat -c %s "$WORK/$ex/sample")
    etc=$(($(stat -c %s "$WORK/$ex/etc/hosts") + $(stat -c %s "$WORK/$ex/etc/resolv.conf")))
    total=$((bin + etc))
    printf '%-4s %12d %22s %24d\n' "$ex" "$bin" "$(awk "BEGIN{printf \"%.2f\", $bin/1048576}")" "$total"
    [ "$total" -lt "$BUDGET" ] || die "$ex image-equivalent is $total bytes, over the 3 MiB budget"
done
echo "(the image layer is the binary alone; image-equivalent adds the /etc/hosts and /etc/resolv.conf Kubernetes mounts)"
echo "static-test: PASS in $((SECONDS - START)) s"
