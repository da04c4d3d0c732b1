"""The measurement plan: the servers, variants and chains by id, with their command lines, in the
order they are interleaved in a round.
"""

import os
import shutil


def targets(bins, peers, skipped, log_level, access_log):
    """The servers and chains, in the order they are interleaved in a round."""
    srv, api = bins["srv"], bins["api"]
    # Our services log each request at `info` (the access log). The peers log nothing, so
    # ours run at `log_level` (default warn: no access log) unless the variant asks for it.
    quiet = {"MICRO_LOG_LEVEL": log_level}

    def peer(rel):
        return os.path.join(peers, rel) if peers else None

    def have(path, what):
        if path and os.path.exists(path):
            return True
        skipped.append(f"{what}: {path or 'no peers directory'} not found")
        print(f"skip: {skipped[-1]}", flush=True)
        return False

    out = [
        {"id": "mm-http", "label": "micro-mesh (http)", "kind": "single", "bin": srv, "env": quiet,
         "cmd": [srv, "-server_address={addr}", "--server", "http"]},
        {"id": "mm-tiny", "label": "micro-mesh (tiny_http)", "kind": "single", "bin": srv, "env": quiet,
         "cmd": [srv, "-server_address={addr}", "--server", "tiny_http"]},
    ]
    if access_log:
        out.append({"id": "mm-http-log", "label": "micro-mesh (http), access log on", "kind": "single",
                    "bin": srv, "env": {"MICRO_LOG_LEVEL": "info"}, "chart": False,
                    "cmd": [srv, "-server_address={addr}", "--server", "http"]})
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
    gml, gmla = peer("target/go/go-micro-like"), peer("target/go/go-micro-like-api")
    if (have(gml, "go-micro-like chain (go-micro-like)")
            and have(gmla, "go-micro-like chain (go-micro-like-api)")):
        out.append({"id": "gomicro-chain", "label": "go-micro-like api -> srv (seed stand-in)",
                    "kind": "chain", "bin": gmla, "path": "/example/call",
                    "pre": [gml, "{addr}"], "cmd": [gmla, "{addr}", "{pre_addr}"]})
    return out


def fill(argv, **kw):
    return [a.format(**kw) for a in argv]
