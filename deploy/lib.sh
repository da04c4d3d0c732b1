# Shared helpers for deploy/*.sh; sourced, not run.
# shellcheck shell=bash

# The repository root.
DEPLOY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Where cargo builds: $CARGO_TARGET_DIR if set, else the repository's target/.
DEPLOY_TARGET_DIR=${CARGO_TARGET_DIR:-$DEPLOY_ROOT/target}

log() { printf '%s\n' "$*" >&2; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# Exits 0 with a visible SKIP line unless we are root.
require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: $1 needs root (network namespaces, chroot); run as root to test"
        exit 0
    fi
}

# apt_need CMD PACKAGE...: installs PACKAGE... with apt-get when CMD is missing.
apt_need() {
    local cmd=$1
    shift
    command -v "$cmd" >/dev/null 2>&1 && return 0
    log "installing $* (for $cmd)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    fi
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after installing $*"
}

# The Dockerfile's build stage: deploy/docker_context.py lays out the files its COPY lines take
# from the context as .dockerignore leaves it, and build_static runs the RUN step's cargo command
# there, so a file the Dockerfile forgets (or .dockerignore drops) breaks this build too.
STATIC_TARGET=x86_64-unknown-linux-gnu

# build_static: builds the static srv and api; sets STATIC_BIN_DIR to the directory holding them.
# DEPLOY_SOURCE_REF=<git ref> builds that commit's files instead of the working tree.
build_static() {
    grep -q 'RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked' "$DEPLOY_ROOT/Dockerfile" \
        || die "the Dockerfile's build command changed; update deploy/lib.sh to match"
    local ctx=$DEPLOY_TARGET_DIR/docker-context
    if [ -n "${DEPLOY_SOURCE_REF:-}" ]; then
        # A committed tree instead of the working tree (say, while src/ is mid-edit).
        local tree=$DEPLOY_TARGET_DIR/docker-tree
        rm -rf "$tree"
        mkdir -p "$tree"
        (cd "$DEPLOY_ROOT" && git archive "$DEPLOY_SOURCE_REF") | tar -x -C "$tree" || die "no tree for $DEPLOY_SOURCE_REF"
        python3 "$DEPLOY_ROOT/deploy/docker_context.py" --root "$tree" "$ctx" || die "laying out the Docker build context failed"
    else
        python3 "$DEPLOY_ROOT/deploy/docker_context.py" "$ctx" || die "laying out the Docker build context failed"
    fi
    log "building static srv and api (as the Dockerfile does) in $ctx"
    (cd "$ctx" && CARGO_TARGET_DIR=$DEPLOY_TARGET_DIR RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --locked --example srv --example api --target "$STATIC_TARGET" --quiet) \
        || die "static build failed"
    # shellcheck disable=SC2034 # used by the scripts that source this file
    STATIC_BIN_DIR=$DEPLOY_TARGET_DIR/$STATIC_TARGET/release/examples
}

# make_root DIR BINARY HOSTS RESOLV: an image-equivalent root: /sample, /etc/hosts and
# /etc/resolv.conf (what Kubernetes mounts into a `scratch` container), nothing else.
make_root() {
    local dir=$1 bin=$2 hosts=$3 resolv=$4
    mkdir -p "$dir/etc"
    cp "$bin" "$dir/sample"
    printf '%s\n' "$hosts" >"$dir/etc/hosts"
    printf '%s\n' "$resolv" >"$dir/etc/resolv.conf"
    chmod 0755 "$dir" "$dir/etc" "$dir/sample"
    chmod 0644 "$dir/etc/hosts" "$dir/etc/resolv.conf"
}

# wait_http NETNS URL [SECONDS]: polls URL from inside NETNS until it answers at all.
wait_http() {
    local ns=$1 url=$2 secs=${3:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        if ip netns exec "$ns" curl -s -o /dev/null --noproxy "*" --max-time 1 "$url"; then
            return 0
        fi
        sleep 0.1
    done
    die "$url did not answer from netns $ns within ${secs}s"
}

# expect NAME WANT GOT: one check, printed; a mismatch fails the script.
expect() {
    if [ "$2" = "$3" ]; then
        printf 'ok   %s\n' "$1"
    else
        printf 'FAIL %s\n     want: %s\n     got:  %s\n' "$1" "$2" "$3" >&2
        exit 1
    fi
}
