"""The measurement plan: the servers, variants and chains by id, with their command lines, in the
order they are interleaved in a round; and the check that drops a variant whose flag the binary
does not know yet.
"""

import os
import shutil
import subprocess

from .common import HERE
from .net import free_port, start
from .procs import cap_log, logfile, stop

# Turns srv's Prometheus metrics (`GET /metrics`, on by default) off. An empty env variable
# counts as unset, so the variants pass the flag rather than MICRO_METRICS_PATH="".
METRICS_OFF = "--metrics_path="

# The srv variants of the cost table, (id, metrics on, access log on), each compared with
# COST_BASE, the variant with neither (metrics off, access log off).
COST_VARIANTS = (("mm-http", True, False), ("mm-http-log-nometrics", False, True),
                 ("mm-http-log", True, True))
COST_BASE = "mm-http-nometrics"


def targets(bins, peers, skipped, log_level, access_log, metrics_off=True):
    """The servers and chains, in the order they are interleaved in a round."""
    srv, api = bins["srv"], bins["api"]
    # Our services log each request at `info` (the access log). The peers log nothing, so
    # ours run at `log_level` (default warn: no access log) unless the variant asks for it.
    quiet = {"MICRO_LOG_LEVEL": log_level}
    http = [srv, "-server_address={addr}", "--server", "http"]

    def peer(rel):
        return os.path.join(peers, rel) if peers else None

    def have(path, what):
        if path and os.path.exists(path):
            return True
        skipped.append(f"{what}: {path or 'no peers directory'} not found")
        print(f"skip: {skipped[-1]}", flush=True)
        return False

    # The four srv variants of the cost table (metrics on/off x access log on/off) side by side,
    # so that they run close together in each round.
    out = [{"id": "mm-http", "label": "micro-mesh (http)", "kind": "single", "bin": srv, "env": quiet,
            "cmd": http}]
    if metrics_off:
        out.append({"id": "mm-http-nometrics", "label": "micro-mesh (http), metrics off", "kind": "single",
                    "bin": srv, "env": quiet, "chart": False, "cmd": http + [METRICS_OFF]})
    if access_log:
        out.append({"id": "mm-http-log", "label": "micro-mesh (http), access log on", "kind": "single",
                    "bin": srv, "env": {"MICRO_LOG_LEVEL": "info"}, "chart": False, "cmd": http})
    if access_log and metrics_off:
        out.append({"id": "mm-http-log-nometrics", "label": "micro-mesh (http), access log on, metrics off",
                    "kind": "single", "bin": srv, "env": {"MICRO_LOG_LEVEL": "info"}, "chart": False,
                    "cmd": http + [METRICS_OFF]})
    out.append({"id": "mm-tiny", "label": "micro-mesh (tiny_http)", "kind": "single", "bin": srv,
                "env": quiet, "cmd": [srv, "-server_address={addr}", "--server", "tiny_http"]})
    go, axum = peer("target/go/go-server"), peer("target/release/axum-server")
    if have(go, "Go net/http (go-server)"):
        out.append({"id": "go", "label": "Go net/http", "kind": "single", "bin": go,
                    "cmd": [go, "{addr}"]})
    if have(axum, "axum (axum-server)"):
        out.append({"id": "axum", "label": "axum", "kind": "single", "bin": axum,
                    "cmd": [axum, "{addr}"]})
    ngx = peer("peers/nginx/run-nginx.sh")
    nginx_bin = shutil.which("nginx")
    if have(ngx, "nginx (run-nginx.sh)"):
        if nginx_bin:
            out.append({"id": "nginx", "label": "nginx (constant body)", "kind": "single",
                        "bin": nginx_bin, "cmd": [ngx, "{addr}"]})
        else:
            skipped.append("nginx: not installed (apt-get install -y nginx-light)")
            print(f"skip: {skipped[-1]}", flush=True)
    out.append({"id": "mm-chain", "label": "micro-mesh api -> srv", "kind": "chain", "bin": api,
                "path": "/example/call", "env": quiet,
                "pre": [srv, "-server_address={addr}"],
                "cmd": [api, "-server_address={addr}", "-client_call_address={pre_addr}"]})
    # The same chain with api's calls to srv over gRPC (h2c, srv's one port serves both wires).
    out.append({"id": "mm-chain-grpc", "label": "micro-mesh api -> srv (gRPC)", "kind": "chain",
                "bin": api, "path": "/example/call", "env": quiet,
                "pre": [srv, "-server_address={addr}"],
                "cmd": [api, "-server_address={addr}", "-client_call_address={pre_addr}",
                        "--client", "grpc"]})
    grpcgo = peer("target/go/grpc-go-server")
    if have(grpcgo, "grpc-go chain (grpc-go-server)"):
        chain_api = grpc_chain_api(peers, skipped)
        if chain_api:
            out.append({"id": "grpcgo-chain", "label": "Go net/http api -> grpc-go srv (gRPC)",
                        "kind": "chain", "bin": chain_api, "path": "/example/call",
                        "pre": [grpcgo, "{addr}"], "pre_probe": "tcp",
                        "cmd": [chain_api, "{addr}", "{pre_addr}"]})
    gml, gmla = peer("target/go/go-micro-like"), peer("target/go/go-micro-like-api")
    if (have(gml, "go-micro-like chain (go-micro-like)")
            and have(gmla, "go-micro-like chain (go-micro-like-api)")):
        out.append({"id": "gomicro-chain", "label": "go-micro-like api -> srv (seed stand-in)",
                    "kind": "chain", "bin": gmla, "path": "/example/call",
                    "pre": [gml, "{addr}"], "cmd": [gmla, "{addr}", "{pre_addr}"]})
    return out


def grpc_chain_api(peers, skipped):
    """bench/peers/grpc-chain-api (ours) built into bench/tmp/go/grpc-chain-api when missing or
    older than its source, offline against Debian's grpc-go; None (and a `skip:`) if it fails."""
    src = os.path.join(HERE, "peers", "grpc-chain-api")
    out = os.path.join(HERE, "tmp", "go", "grpc-chain-api")
    if (not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(os.path.join(src, "main.go"))):
        print("   building grpc-chain-api (bench/peers/grpc-chain-api/build.sh)", flush=True)
        r = subprocess.run([os.path.join(src, "build.sh"), peers, out], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, check=False)
        if r.returncode != 0:
            skipped.append("grpc-go chain (grpc-chain-api): did not build: "
                           + r.stdout.decode(errors="replace").strip()[-300:])
            print(f"skip: {skipped[-1]}", flush=True)
            return None
    return out


def fill(argv, **kw):
    return [a.format(**kw) for a in argv]


def known_flags(tl, skipped):
    """`tl` without the variants whose binary rejects one of their flags (srv before it has
    `--metrics_path` exits 2 with "unknown flag"), each dropped with a `skip:` line. A variant
    that fails for another reason stays in, and its failure is recorded when it is measured."""
    out = []
    for t in tl:
        if METRICS_OFF in t["cmd"] and rejects_flag(t):
            skipped.append(f"{t['id']}: {os.path.basename(t['bin'])} does not know {METRICS_OFF} yet "
                           "(unknown flag)")
            print(f"skip: {skipped[-1]}", flush=True)
        else:
            out.append(t)
    return out


def rejects_flag(t):
    """Start `t` once: True when it exits before answering and says "unknown flag"."""
    port = free_port()
    log = logfile(t["id"] + "-flags")
    try:
        p, _ = start(fill(t["cmd"], addr=f"127.0.0.1:{port}"), port, t.get("path", "/Example.Call"), log,
                     env=t.get("env"))
        stop(p, grace=0)
        return False
    except (RuntimeError, OSError):
        pass
    finally:
        cap_log(log)
    with open(log.name, errors="replace") as f:
        return "unknown flag" in f.read()
