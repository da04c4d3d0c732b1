"""The command line: `run` (measure, write the JSON, print the tables) and `report` (print the
tables of a results file).
"""

import argparse
import json
import os
import signal
import statistics
import sys
import time

from .common import HERE, MiB, ROOT, shown
from .footprint import bench_startups, binary_info
from .machine import machine, sessions_text, wait_load
from .measure import bench_clients, bench_target
from .plan import known_flags, targets
from .procs import isolate, on_signal, stop_all
from .report import report
from .summary import summarize
from .sysstat import loadavg


def cmd_run(a):
    isolate(a.one_session)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    rel = os.path.join(target_dir, "release")
    bins = {"srv": os.path.join(rel, "examples", "srv"), "api": os.path.join(rel, "examples", "api"),
            "bench_client": os.path.join(rel, "examples", "bench_client"),
            "micro-mesh": os.path.join(rel, "micro-mesh")}
    for v in bins.values():
        if not os.path.exists(v):
            sys.exit(f"{v} missing: build with `cargo build --release --examples --bins` (bench/run.sh does)")
    peers = os.path.abspath(a.peers) if a.peers else None
    if peers and not os.path.isdir(peers):
        print(f"skip: peers directory {peers} not found", flush=True)
        peers = None
    skipped = []
    all_targets = targets(bins, peers, skipped, a.log_level, a.access_log, a.metrics_off)
    tl = known_flags([t for t in all_targets if not a.only or t["id"] in a.only.split(",")], skipped)
    conns = [int(c) for c in a.conns.split(",")]
    chain_conns = [int(c) for c in a.chain_conns.split(",")]
    modes = []
    for m in a.client_modes.split(","):
        th, calls = m.split("x")
        modes.append((int(th), int(calls)))
    clients = [{"id": "mm-client", "label": "micro-mesh bench_client",
                "cmd": [bins["bench_client"], "{url}", "{calls}", "{threads}"]}]
    ureq = os.path.join(peers, "target/release/client-ureq3") if peers else None
    if ureq and os.path.exists(ureq):
        clients.append({"id": "ureq3", "label": "bare ureq 3 agent",
                        "cmd": [ureq, "{url}", "{calls}", "{threads}", "--timeout", "0"]})
    else:
        skipped.append(f"bare ureq 3 client: {ureq or 'no peers directory'} not found")
        print(f"skip: {skipped[-1]}", flush=True)
    # The gRPC clients (issue 13): ours vs grpc-go's peer, each with its defaults (ours: 2
    # connections, grpc-go: 1), against srv's gRPC on its one port; protobuf for both.
    grpc_clients = [{"id": "mm-client-grpc", "label": "micro-mesh bench_client --client grpc",
                     "cmd": [bins["bench_client"], "{url}", "{calls}", "{threads}", "--client", "grpc"]}]
    grpcgo_client = os.path.join(peers, "target/go/grpc-go-client") if peers else None
    if grpcgo_client and os.path.exists(grpcgo_client):
        grpc_clients.append({"id": "grpc-go-client", "label": "grpc-go 1.33 client (clients/grpc-go-client)",
                             "cmd": [grpcgo_client, "{url}", "{calls}", "{threads}"]})
    else:
        skipped.append(f"grpc-go client: {grpcgo_client or 'no peers directory'} not found "
                       "(bench/grpc.sh builds it into bench/tmp/peers)")
        print(f"skip: {skipped[-1]}", flush=True)
    by_id = {t["id"]: t for t in all_targets}
    client_server = by_id.get("nginx") or by_id["mm-http"]
    grpc_client_server = by_id["mm-http"]

    load = wait_load(a.wait_load, a.wait_load_max) if a.wait_load else None
    data = {
        "schema": 1, "machine": machine(),
        "config": {"rounds": a.rounds, "duration_s": a.duration, "warmup_s": a.warmup,
                   "conns": conns, "chain_conns": chain_conns, "starts_per_round": a.starts,
                   "client_modes": [{"threads": t, "calls": c} for t, c in modes],
                   "client_server": client_server["id"], "grpc_client_server": grpc_client_server["id"],
                   "peers": peers and shown(peers),
                   "micro_log_level": a.log_level, "access_log_variant": a.access_log,
                   "metrics_off_variants": a.metrics_off,
                   "wrk": "-t1 -c1 / -t2 -cN, --latency, bench/post.lua",
                   "host": "127.0.0.1", "sessions": sessions_text(a.one_session)},
        "load": {"wait": load, "start": loadavg()},
        "skipped": skipped,
        "targets": [{"id": t["id"], "label": t["label"], "kind": t["kind"],
                     "chart": t.get("chart", True), "env": t.get("env")} for t in tl],
        "clients_measured": [{"id": c["id"], "label": c["label"]} for c in clients + grpc_clients],
        "binaries": {}, "rounds": [], "startups": {}, "clients": [],
    }
    for t in tl:
        data["binaries"][t["id"]] = binary_info(t.get("bin"))
    for name in ("srv", "api", "micro-mesh", "bench_client"):
        data["binaries"][name] = binary_info(bins[name])
    b = data["binaries"]["srv"]
    print(f"srv: {b['bytes'] / MiB:.2f} MiB, stripped {b['stripped_bytes'] / MiB:.2f} MiB, "
          f"{b['linking']}", flush=True)
    t_start = time.monotonic()
    try:
        for rnd in range(1, a.rounds + 1):
            print(f"== round {rnd}/{a.rounds} (load {loadavg()[0]:.2f})", flush=True)
            for t in tl:
                cl = conns if t["kind"] == "single" else chain_conns
                data["rounds"].append(bench_target(t, cl, a.duration, a.warmup, rnd))
            for t in tl:
                if t["kind"] == "single" and a.starts > 0:
                    ms = bench_startups(t, a.starts)
                    data["startups"].setdefault(t["id"], []).extend(ms)
                    if ms:
                        print(f"  r{rnd} {t['id']:<14} startup {statistics.median(ms):.1f} ms "
                              f"(median of {len(ms)})", flush=True)
            if modes and (not a.only or "clients" in a.only.split(",")):
                data["clients"].extend(bench_clients(client_server, clients, modes, rnd))
            if modes and (not a.only or "grpc-clients" in a.only.split(",")):
                data["clients"].extend(bench_clients(grpc_client_server, grpc_clients, modes, rnd))
    except KeyboardInterrupt:
        print("interrupted: stopping everything, no results written", flush=True)
        stop_all()
        sys.exit(130)
    finally:
        stop_all()
    data["load"]["end"] = loadavg()
    data["elapsed_s"] = round(time.monotonic() - t_start)
    data["summary"] = summarize(data)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.relpath(a.out)} ({data['elapsed_s']} s)")
    print(report(data))
    if data["summary"]["errors_total"]:
        print(f"!! {data['summary']['errors_total']} request errors in total (see the tables)")


def cmd_report(a):
    with open(a.file) as f:
        print(report(json.load(f)))


def main(description):
    ap = argparse.ArgumentParser(description=description)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="measure and write the JSON results")
    r.add_argument("--rounds", type=int, default=3)
    r.add_argument("--duration", type=int, default=10, help="seconds per wrk level (default 10)")
    r.add_argument("--warmup", type=int, default=2, help="wrk warm-up seconds, not recorded (default 2)")
    r.add_argument("--conns", default="1,16,128", help="single-hop levels (default 1,16,128)")
    r.add_argument("--chain-conns", default="16,128", help="chain levels (default 16,128)")
    r.add_argument("--client-modes", default="1x60000,8x120000",
                   help="THREADSxCALLS for the client benchmark (default 1x60000,8x120000)")
    r.add_argument("--starts", type=int, default=5, help="startup measurements per server per round")
    r.add_argument("--peers", default=None, help="built peers directory (bench/run.sh passes it)")
    r.add_argument("--only", default=None,
                   help="comma-separated ids: mm-http,mm-http-nometrics,mm-http-log,mm-http-log-nometrics,"
                        "mm-tiny,go,axum,nginx,mm-chain,mm-chain-grpc,grpcgo-chain,gomicro-chain,clients,"
                        "grpc-clients")
    r.add_argument("--wait-load", type=float, default=None,
                   help="first wait until the 1-minute load average is below this (polls every 30 s)")
    r.add_argument("--wait-load-max", type=float, default=1200, help="give up waiting after this many s")
    r.add_argument("--log-level", default="warn",
                   help="MICRO_LOG_LEVEL of our services (default warn: no access log, as the peers)")
    r.add_argument("--no-access-log", dest="access_log", action="store_false",
                   help="skip the variants mm-http-log and mm-http-log-nometrics (srv on http with its "
                        "default access log)")
    r.add_argument("--no-metrics-off", dest="metrics_off", action="store_false",
                   help="skip the variants mm-http-nometrics and mm-http-log-nometrics (srv with "
                        "--metrics_path=, metrics off)")
    r.add_argument("--one-session", action="store_true",
                   help="start servers, wrk and clients in this session (one autogroup) instead of "
                        "a session each (a scheduling group each, like pods); see bench/README.md")
    r.add_argument("--out", default=os.path.join(HERE, "results", "latest.json"))
    r.set_defaults(func=cmd_run)
    p = sub.add_parser("report", help="print markdown tables from a results file")
    p.add_argument("file", nargs="?", default=os.path.join(HERE, "results", "latest.json"))
    p.set_defaults(func=cmd_report)
    a = ap.parse_args()
    a.func(a)
