# syntax=docker/dockerfile:1
#
# One image per example, a fully static binary alone in `scratch` as /sample, so the seed's
# manifests run it unchanged:
#   docker build --build-arg EXAMPLE=srv -t registry.example.com/micro-mesh/srv:0.1.0 .
#   docker build --build-arg EXAMPLE=api -t registry.example.com/micro-mesh/api:0.1.0 .
# and in a pod: command: ["/sample", "-server_address=0.0.0.0:9080", "-client_call_address=:9080"]
#
# deploy/static-test.sh builds the binary exactly as below and runs it in an empty chroot.

# Debian bookworm (glibc 2.36): its static glibc has the `files` and `dns` NSS modules built in,
# so /etc/hosts and DNS lookups work in `scratch` without libnss_*.so or /etc/nsswitch.conf.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
ARG EXAMPLE=srv
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY examples ./examples
# crt-static on the gnu target gives a static-pie binary; the release profile in Cargo.toml
# (LTO, one codegen unit, stripped, unwinding kept) makes it small.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    case "$EXAMPLE" in srv|api) ;; *) echo "EXAMPLE must be srv or api, not '$EXAMPLE'" >&2; exit 1 ;; esac \
    && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked \
        --example "$EXAMPLE" --target x86_64-unknown-linux-gnu \
    && cp "target/x86_64-unknown-linux-gnu/release/examples/$EXAMPLE" /sample

# Nothing but the binary: no shell, no libc, no CA bundle (the sidecar does TLS), no passwd
# (the user is numeric). Kubernetes mounts /etc/hosts and /etc/resolv.conf at run time.
FROM scratch
COPY --from=build /sample /sample
USER 65532:65532
EXPOSE 9080
ENTRYPOINT ["/sample"]
