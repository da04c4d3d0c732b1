#!/usr/bin/env python3
"""micro-mesh over HTTP/2: gRPC against grpc-go and tonic, and HTTP/2 against HTTP/1.1 JSON.
Normally run by bench/grpc.sh, which builds srv and the gRPC peers first.

  h2.py grpc --peers DIR [grpc.py run options]   # srv vs grpc-go vs tonic, with the shared grpc.py
  h2.py h2-vs-h1 [--rounds 3] [--duration 10] [--conns 16,128] [--streams 1,10]
  h2.py report FILE                               # the tables of either results file again

`grpc` checks first that srv answers one gRPC Call (grpc.py call: grpc-status 0, "Hello Hobo"),
then runs DIR/grpc.py run with the servers mm (the srv example), grpc-go and tonic (each that is
built in DIR; a missing one is skipped with a `skip:` line) interleaved, and adds the comparison
and the targets to the JSON grpc.py wrote (default bench/results/grpc.json, tables in .md).

`h2-vs-h1` measures the same JSON route (POST /Example.Call, content-type application/json,
{"name":"Hobo"}) on one srv process per round with one load generator, h2load: with --h1 at m=1
and over h2c at each of --streams, interleaved (the order rotates per round), and writes
bench/results/h2-vs-h1.json (tables in .md): medians, server CPU us per request from /proc, and
the ratio HTTP/2 / HTTP/1.1.

Both print a "target / measured / met" table. Python 3 stdlib only; processes and /proc readings
come from bench/harness/.
"""

import argparse
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from harness.common import BODY, EXPECT, HERE, ROOT, shown
from harness.machine import machine
from harness.net import free_port, start
from harness.procs import GROUPING, LIVE, cap_log, logfile, on_signal, stop, stop_all
from harness.sysstat import Sampler, cpu_s, group_pids, loadavg, machine_cpu, passive_opens

RESULTS = os.path.join(HERE, "results")
TMP = os.path.join(HERE, "tmp")
PATH = "/Example.Call"
GRPC_METHOD = "/go.micro.srv.sample.Example/Call"
# srv's flags in every run here. The peers shed nothing, and srv's default cap of 128 requests in
# handlers (--server_max_in_flight) is below c x m at m=10 (160 and 1280 streams): beyond it srv
# answers a fast 503 / grpc-status 14, which h2load counts as a gRPC success (HTTP 200). Seen:
# h2load -n 50000 -c 128 -m 10 said 50000 succeeded, srv's metrics 36925 code 200 + 13075 code 503.
MM_FLAGS = "-log_level=warn -server_max_in_flight=2048"

# The targets (one stream per connection: m=1; more streams: m>1), ratios of the medians.
GRPC_GOALS = {"grpc-go": (1.3, 1.0), "tonic": (1.0, 1.0)}  # (m=1, m>1)
H2_VS_H1_GOAL = 0.8


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fx(x, spec="{:.0f}"):
    return "-" if x is None else spec.format(x)


def ms(us):
    return None if us is None else us / 1000.0


def default_srv():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, "release", "examples", "srv")


def out_paths(out):
    out = os.path.abspath(out)
    return out, os.path.splitext(out)[0] + ".md"


def targets_md(targets, title):
    lines = [f"| {title} target | goal | measured | met |", "|---|---|---|---|"]
    for t in targets:
        met = "-" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['target']} | {t['goal']} | {t['measured']} | {met} |")
    return lines


def target(name, goal, value, ok, spec="{:.2f}x", extra=""):
    return {"target": name, "goal": goal, "value": value,
            "measured": ("-" if value is None else spec.format(value)) + extra,
            "met": None if value is None or ok is None else bool(ok(value))}


# --------------------------------------------------------------------------
# h2load: command, output, per-request log
# --------------------------------------------------------------------------

# h2load (nghttp2 1.52, Client::on_status_code) counts a response whose :status arrived during the
# warm-up as a success without recording its status; when that stream ends in the measured phase
# (a gRPC reply's trailers, or DATA sent after HEADERS), h2load counts it as succeeded but not as
# 2xx, and its --log-file line says status 0. At most c x m of them per run (the streams open at
# the switch): an artefact of the phase switch, not a failed request. (succeeded - 2xx need not
# equal their count: a reply whose :status came in the window but whose stream was still open at
# its end counts as 2xx, not as succeeded.)
STATUS0 = "h2load status 0 = a reply whose headers came in the warm-up (not an error)"


def boundary_only(r):
    """True when a run's only blemish is h2load's status-0 entries (STATUS0): grpc.py marks
    such a run NOT OK; h2load itself counted every request as succeeded."""
    odd = r.get("log_non200_statuses") or {}
    smp = r.get("grpc_sample") or {}
    return (r.get("h2load_rc") == 0 and r.get("rps", 0) > 0 and r.get("failed") == 0
            and r.get("errored") == 0 and r.get("timeout") == 0 and set(odd) == {"0"}
            and r.get("succeeded") == r.get("done") and odd["0"] <= r["conns"] * r["streams"]
            and smp.get("grpc_ok") == smp.get("n") and smp.get("msg_ok") == smp.get("n"))


def parse_h2load(out):
    """req/s, request counts, status classes and the negotiated protocol from h2load's output."""
    r = {}
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    if m:
        keys = ("requests", "started", "done", "succeeded", "failed", "errored", "timeout")
        r.update(zip(keys, map(int, m.groups()), strict=True))
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m:
        r["status_2xx"], r["status_3xx"], r["status_4xx"], r["status_5xx"] = map(int, m.groups())
    m = re.search(r"Application protocol: (\S+)", out)
    r["protocol"] = m.group(1) if m else None
    return r


def log_percentiles(path):
    """Latency percentiles (us) and non-200 counts from h2load --log-file (measured phase only).
    Status 0 is h2load's, not the server's: see STATUS0."""
    lat, non200, status0 = [], 0, 0
    with open(path) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) < 3:
                continue
            status0 += parts[1] == "0"
            non200 += parts[1] not in ("200", "0")
            lat.append(int(parts[2]))
    lat.sort()

    def pct(p):
        if not lat:
            return None
        return float(lat[max(1, min(len(lat), int(-(-p * len(lat) // 100)))) - 1])
    return {"log_requests": len(lat), "log_non200": non200, "log_status0": status0, "lat_p50_us": pct(50),
            "lat_p90_us": pct(90), "lat_p99_us": pct(99), "lat_p999_us": pct(99.9),
            "lat_max_us": float(lat[-1]) if lat else None}


def h2load_level(port, proto, conns, streams, a, body_path, pgid, sampler):
    """One measured h2load run (after its warm-up) against the running server `pgid`."""
    log_path = os.path.join(TMP, f"h2load-{os.getpid()}.log")
    argv = (["h2load"] + (["--h1"] if proto == "h1" else [])
            + ["-c", str(conns), "-m", str(streams), "-t", str(min(a.threads, conns)),
               "-D", str(a.duration), "--warm-up-time", str(a.warmup), "-d", body_path,
               "-H", "content-type: application/json", f"--log-file={log_path}",
               f"http://127.0.0.1:{port}{PATH}"])
    rec = {"proto": proto, "conns": conns, "streams": streams, "ts": time.strftime("%H:%M:%S"),
           "loadavg_before": loadavg(), "h2load_cmd": shlex.join(argv).replace(TMP + os.sep, "")}
    opens0 = passive_opens()
    out_f = tempfile.TemporaryFile()
    t_start = time.monotonic()
    h = subprocess.Popen(argv, stdout=out_f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         **GROUPING)
    LIVE.add(h)
    try:
        # the measured window starts when the warm-up ends (+ 50 ms for h2load's connects)
        time.sleep(max(0.0, t_start + a.warmup + 0.05 - time.monotonic()))
        sampler.reset()
        pids = group_pids(pgid)
        t0, srv0, h0, (busy0, steal0) = time.monotonic(), cpu_s(pids), cpu_s([h.pid]), machine_cpu()
        _, status, ru = os.wait4(h.pid, 0)
        h.returncode = os.waitstatus_to_exitcode(status)
    except BaseException:
        h.kill()
        h.wait()
        raise
    finally:
        LIVE.discard(h)
    t1, (busy1, steal1) = time.monotonic(), machine_cpu()
    srv_cpu = cpu_s(group_pids(pgid)) - srv0
    h2_cpu = ru.ru_utime + ru.ru_stime - h0
    out_f.seek(0)
    out = out_f.read().decode(errors="replace")
    out_f.close()
    rec["h2load_rc"] = h.returncode
    rec.update(parse_h2load(out))
    if os.path.exists(log_path):
        rec.update(log_percentiles(log_path))
        os.unlink(log_path)
    window, rps = t1 - t0, rec["rps"]
    rec["window_s"] = window
    rec["server_cpu_us_per_req"] = srv_cpu / window / rps * 1e6 if rps and window > 0 else None
    rec["h2load_cpu_us_per_req"] = h2_cpu / window / rps * 1e6 if rps and window > 0 else None
    rec["server_cores"] = srv_cpu / window
    rec["h2load_cores"] = h2_cpu / window
    rec["machine_busy_cores"] = (busy1 - busy0) / window
    rec["steal_cores"] = (steal1 - steal0) / window
    rec["other_cores"] = max(0.0, rec["machine_busy_cores"] - rec["server_cores"] - rec["h2load_cores"])
    rec["peak_rss_kib"], rec["peak_threads"] = sampler.peaks()
    rec["new_conns"] = passive_opens() - opens0
    rec["loadavg_after"] = loadavg()
    want = "http/1.1" if proto == "h1" else "h2c"
    rec["errors"] = (rec.get("failed", 0) + rec.get("errored", 0) + rec.get("timeout", 0)
                     + rec.get("log_non200", 0))
    rec["ok"] = (h.returncode == 0 and rps > 0 and rec["protocol"] == want and "failed" in rec
                 and rec["errors"] == 0)
    if not rec["ok"]:
        rec["h2load_output_tail"] = out[-1500:]
    return rec


# --------------------------------------------------------------------------
# h2-vs-h1
# --------------------------------------------------------------------------

def curl_h2_json(port):
    """One POST over h2c prior knowledge: (rc, body)."""
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "--max-time", "5",
                        "-H", "content-type: application/json", "--data-binary", BODY.decode(),
                        f"http://127.0.0.1:{port}{PATH}"], capture_output=True, timeout=10)
    return p.returncode, p.stdout + p.stderr


def cmd_h2_vs_h1(a):
    for tool in ("h2load", "curl"):
        if not any(os.access(os.path.join(d, tool), os.X_OK) for d in os.environ["PATH"].split(os.pathsep)):
            sys.exit(f"h2.py: {tool} not found (apt-get install -y nghttp2-client curl)")
    if not os.path.exists(a.srv):
        sys.exit(f"{a.srv} missing: cargo build --release --example srv (bench/grpc.sh does)")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    conns = [int(c) for c in a.conns.split(",")]
    variants = [("h1", 1)] + [("h2", int(m)) for m in a.streams.split(",")]
    out, report = out_paths(a.out)
    os.makedirs(TMP, exist_ok=True)
    body_path = os.path.join(TMP, f"h2-body-{os.getpid()}.json")
    with open(body_path, "wb") as f:
        f.write(BODY)
    flags = shlex.split(a.mm_flags)
    in_flight_check(flags, max(conns) * max(m for _, m in variants), "h2load counts them as failed")
    doc = {"meta": {"argv": sys.argv, "srv": shown(a.srv), "mm_flags": flags, "rounds": a.rounds,
                    "conns": conns, "variants": [f"{p} m={m}" for p, m in variants],
                    "duration_s": a.duration, "warmup_s": a.warmup, "h2load_threads": a.threads,
                    "h2load": subprocess.run(["h2load", "--version"], capture_output=True,
                                             text=True).stdout.strip(),
                    "machine": machine(), "loadavg_start": loadavg()},
           "servers": [], "levels": []}
    t_run = time.monotonic()
    try:
        for rnd in range(1, a.rounds + 1):
            port = free_port()
            argv = [a.srv, f"-server_address=127.0.0.1:{port}"] + flags
            log = logfile("h2-vs-h1-mm")
            p = None
            try:
                p, startup = start(argv, port, PATH, log)
                rc, body = curl_h2_json(port)
                if rc != 0 or EXPECT not in body:
                    raise RuntimeError(f"POST {PATH} over h2c (curl) failed: rc {rc} {body[:200]!r}")
                doc["servers"].append({"round": rnd, "argv": argv, "startup_ms": startup})
                print(f"  mm r{rnd} up on 127.0.0.1:{port} in {startup:.0f} ms (HTTP/1.1 and h2c "
                      f"answer Hello Hobo)", flush=True)
                sampler = Sampler([p.pid])
                sampler.start()
                k = (rnd - 1) % len(variants)
                order = variants[k:] + variants[:k]  # no variant always goes first
                try:
                    for c in conns:
                        for proto, m in order:
                            r = h2load_level(port, proto, c, m, a, body_path, p.pid, sampler)
                            r["round"] = rnd
                            doc["levels"].append(r)
                            print(f"  {proto} r{rnd} c={c:<4} m={m:<3} {r['rps']:>9.0f} rps  "
                                  f"p50={fx(ms(r.get('lat_p50_us')), '{:.3f}')}ms "
                                  f"p99={fx(ms(r.get('lat_p99_us')), '{:.3f}')}ms "
                                  f"srvcpu={fx(r['server_cpu_us_per_req'], '{:.1f}')}us/req "
                                  f"h2load={fx(r['h2load_cpu_us_per_req'], '{:.1f}')}us/req "
                                  f"other={r['other_cores']:.2f} steal={r['steal_cores']:.2f}cores "
                                  f"errors={r['errors']} proto={r['protocol']}"
                                  f"{'' if r['ok'] else '  NOT OK'}", flush=True)
                finally:
                    sampler.halt.set()
            finally:
                if p is not None:
                    stop(p)
                cap_log(log)
    except KeyboardInterrupt:
        stop_all()
        raise
    finally:
        os.unlink(body_path)
        doc["meta"]["wall_s"] = time.monotonic() - t_run
        doc["meta"]["loadavg_end"] = loadavg()
        doc["summary"] = summarize_h2(doc)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"wrote {shown(out)}", file=sys.stderr)
    md = render_h2(doc)
    with open(report, "w") as f:
        f.write(md)
    print()
    print(md, end="")


def summarize_h2(doc):
    levels = doc["levels"]
    groups = {}
    for r in levels:
        groups.setdefault((r["proto"], r["conns"], r["streams"]), []).append(r)
    rows = []
    for (proto, c, m), rs in groups.items():
        good = [r for r in rs if r["ok"]]
        rps = [r["rps"] for r in good]
        rows.append({
            "proto": proto, "conns": c, "streams": m, "rounds": len(rs), "rounds_ok": len(good),
            "rps": med(rps), "rps_min": min(rps) if rps else None, "rps_max": max(rps) if rps else None,
            **{k: med(r.get(k) for r in good) for k in (
                "lat_p50_us", "lat_p90_us", "lat_p99_us", "lat_p999_us", "server_cpu_us_per_req",
                "h2load_cpu_us_per_req", "other_cores", "steal_cores", "peak_rss_kib", "peak_threads")},
            "errors": sum(r["errors"] for r in rs), "protocols": sorted({str(r["protocol"]) for r in rs}),
        })
    by = {(r["proto"], r["conns"], r["streams"]): r for r in rows}
    ratios = []
    for (proto, c, m), row in by.items():
        h1 = by.get(("h1", c, 1))
        if proto != "h2" or not h1:
            continue
        per_round = []
        for rnd in range(1, doc["meta"]["rounds"] + 1):
            x = [r for r in groups[(proto, c, m)] if r["round"] == rnd and r["ok"]]
            z = [r for r in groups[("h1", c, 1)] if r["round"] == rnd and r["ok"]]
            if x and z:
                per_round.append(ratio(x[0]["rps"], z[0]["rps"]))
        ratios.append({"conns": c, "h2_streams": m, "h2_rps": row["rps"], "h1_rps": h1["rps"],
                       "ratio": ratio(row["rps"], h1["rps"]), "ratio_median_of_rounds": med(per_round),
                       "h2_cpu_us_per_req": row["server_cpu_us_per_req"],
                       "h1_cpu_us_per_req": h1["server_cpu_us_per_req"],
                       "cpu_ratio": ratio(row["server_cpu_us_per_req"], h1["server_cpu_us_per_req"])})
    targets = []
    for x in ratios:
        if x["h2_streams"] == 1:
            targets.append(target(f"HTTP/2 / HTTP/1.1 JSON req/s c={x['conns']} m=1",
                                  f">= {H2_VS_H1_GOAL}x", x["ratio"], lambda v: v >= H2_VS_H1_GOAL))
        else:
            targets.append(target(f"HTTP/2 m={x['h2_streams']} / HTTP/1.1 m=1 req/s c={x['conns']}",
                                  "reported", x["ratio"], None))
    for x in ratios:
        if x["h2_streams"] == 1:
            targets.append(target(f"srv CPU µs/req HTTP/2 / HTTP/1.1 c={x['conns']} m=1", "reported",
                                  x["cpu_ratio"], None,
                                  extra=f" ({fx(x['h2_cpu_us_per_req'], '{:.1f}')} / "
                                        f"{fx(x['h1_cpu_us_per_req'], '{:.1f}')} µs)"))
    bad = sum(1 for r in levels if not r["ok"])
    targets.append(target("every run OK (no h2load failure, non-200 or wrong protocol)", "all",
                          None if not levels else len(levels) - bad, lambda v: bad == 0,
                          spec="{:d}", extra=f" of {len(levels)}"))
    return {"rows": rows, "ratios": ratios, "targets": targets}


def render_h2(doc):
    meta, s = doc["meta"], doc["summary"]
    la0, la1 = meta["loadavg_start"][0], meta.get("loadavg_end", meta["loadavg_start"])[0]
    lines = [f"JSON RPC `POST {PATH}` on srv (`{' '.join(meta['mm_flags'])}`), HTTP/1.1 (`h2load --h1`) "
             f"vs HTTP/2 h2c (`h2load`), h2load -t {meta['h2load_threads']} -D {meta['duration_s']} "
             f"--warm-up-time {meta['warmup_s']}; {meta['rounds']} round(s), medians (req/s: min–max); "
             f"{meta['machine']['nproc']} CPUs; loadavg {la0:.2f} -> {la1:.2f}", "",
             "| proto | c | m | req/s | (min–max) | p50 ms | p90 ms | p99 ms | p99.9 ms "
             "| srv CPU µs/req | h2load CPU µs/req | other cores | steal cores | peak RSS MiB | peak thr "
             "| errors | rounds ok |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(s["rows"], key=lambda r: (r["conns"], r["proto"] != "h1", r["streams"])):
        lines.append(
            f"| {'HTTP/1.1' if r['proto'] == 'h1' else 'HTTP/2'} | {r['conns']} | {r['streams']} "
            f"| {fx(r['rps'])} | {fx(r['rps_min'])}–{fx(r['rps_max'])} "
            + "".join(f"| {fx(ms(r[k]), '{:.3f}')} "
                      for k in ("lat_p50_us", "lat_p90_us", "lat_p99_us", "lat_p999_us"))
            + f"| {fx(r['server_cpu_us_per_req'], '{:.1f}')} | {fx(r['h2load_cpu_us_per_req'], '{:.1f}')} "
            f"| {fx(r['other_cores'], '{:.2f}')} | {fx(r['steal_cores'], '{:.2f}')} "
            f"| {fx(None if r['peak_rss_kib'] is None else r['peak_rss_kib'] / 1024, '{:.1f}')} "
            f"| {fx(r['peak_threads'])} | {r['errors']} | {r['rounds_ok']}/{r['rounds']} |")
    lines += ["", "| c | HTTP/2 m | HTTP/2 req/s | HTTP/1.1 req/s (m=1) | h2/h1 | h2/h1 per-round median "
              "| srv CPU µs/req h2 | h1 | h2/h1 CPU |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for x in sorted(s["ratios"], key=lambda x: (x["conns"], x["h2_streams"])):
        lines.append(f"| {x['conns']} | {x['h2_streams']} | {fx(x['h2_rps'])} | {fx(x['h1_rps'])} "
                     f"| {fx(x['ratio'], '{:.2f}')} | {fx(x['ratio_median_of_rounds'], '{:.2f}')} "
                     f"| {fx(x['h2_cpu_us_per_req'], '{:.1f}')} | {fx(x['h1_cpu_us_per_req'], '{:.1f}')} "
                     f"| {fx(x['cpu_ratio'], '{:.2f}')} |")
    lines += [""] + targets_md(s["targets"], "HTTP/2 JSON")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# grpc: the shared grpc.py with srv, grpc-go and tonic
# --------------------------------------------------------------------------

GRPC_PEERS = (("grpc-go", "target/go/grpc-go-server"), ("tonic", "target/release/tonic-server"))


def in_flight_check(flags, needed, what):
    """Warn when srv's --server_max_in_flight (flags, env, default 128) is below the requests that
    a level keeps in flight: srv would shed the rest with a fast 503 / UNAVAILABLE."""
    cap = os.environ.get("MICRO_SERVER_MAX_IN_FLIGHT") or "128"
    for i, f in enumerate(flags):
        name, eq, value = f.lstrip("-").partition("=")
        if name == "server_max_in_flight":
            cap = value if eq else (flags[i + 1] if i + 1 < len(flags) else cap)
    if int(cap) < needed:
        print(f"warning: srv's --server_max_in_flight is {cap}, below the {needed} requests in flight "
              f"at the largest level: srv sheds the rest ({what}); raise it with --mm-flags", flush=True)


def grpc_check(grpc_py, srv, flags):
    """Start srv once; grpc.py's `call` must get grpc-status 0 and "Hello Hobo" (bare
    application/grpc with te: trailers, as h2load sends)."""
    port = free_port()
    log = logfile("grpc-check-mm")
    p = None
    try:
        p, _ = start([srv, f"-server_address=127.0.0.1:{port}"] + flags, port, PATH, log)
        c = subprocess.run([sys.executable, grpc_py, "call", f"127.0.0.1:{port}", "Hobo"],
                           capture_output=True, text=True, timeout=30)
        line = c.stdout.strip()
        try:
            got = json.loads(line.splitlines()[-1])
        except (ValueError, IndexError):
            got = {}
        ok = got.get("grpc_status") == 0 and got.get("msg") == "Hello Hobo"
        print(f"check: grpc.py call 127.0.0.1:{port} Hobo -> {line or c.stderr.strip()}: "
              f"{'ok' if ok else 'FAILED'}", flush=True)
        return ok
    finally:
        if p is not None:
            stop(p)
        cap_log(log)


def cmd_grpc(a, rest):
    peers = os.path.abspath(a.peers)
    grpc_py = os.path.join(peers, "grpc.py")
    if not os.path.isfile(grpc_py):
        sys.exit(f"h2.py grpc: {grpc_py} not found (--peers: a writable copy of the team's bench/)")
    if not os.path.exists(a.srv):
        sys.exit(f"{a.srv} missing: cargo build --release --example srv (bench/grpc.sh does)")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    flags = shlex.split(a.mm_flags)
    lv = argparse.ArgumentParser(add_help=False)
    lv.add_argument("--conns", default="16,128")
    lv.add_argument("--streams", default="1,10")
    lv.add_argument("--sample", type=int, default=20)
    lv = lv.parse_known_args(rest)[0]
    most = max(int(x) for x in lv.conns.split(",")) * max(int(x) for x in lv.streams.split(","))
    in_flight_check(flags, most + lv.sample, "gRPC: h2load counts grpc-status 14, an HTTP 200, as a success")
    if not grpc_check(grpc_py, a.srv, flags):
        sys.exit("h2.py grpc: srv does not answer a gRPC Call; not measuring")
    servers = [f"mm={shlex.quote(a.srv)} -server_address={{addr}} {shlex.join(flags)}".rstrip()]
    skipped = []
    for name, rel in GRPC_PEERS:
        b = os.path.join(peers, rel)
        if os.access(b, os.X_OK):
            servers.append(f"{name}={shlex.quote(b)} {{addr}}")
        else:
            skipped.append(f"{name}: {shown(b)} not built")
            print(f"skip: {skipped[-1]}", flush=True)
    out, report = out_paths(a.out)
    argv = [sys.executable, grpc_py, "run", "--conns", "16,128", "--streams", "1,10", *rest,
            "--out", out, "--report", report, "--", *servers]
    print("== " + shlex.join(argv).replace(ROOT + os.sep, ""), flush=True)
    # Its own session: a Ctrl-C reaches it once, from here. grpc.py stops its servers on
    # KeyboardInterrupt, i.e. SIGINT, not on SIGTERM; and SIGINT must not be ignored in it, as it
    # is in a command that a script started with `&` (grpc.sh's run_bg) and in that one's children.
    child = subprocess.Popen(argv, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        rc = child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)
        child.wait()
        raise
    if rc != 0 or not os.path.exists(out):
        sys.exit(f"h2.py grpc: grpc.py run failed (exit {rc})")
    with open(out) as f:
        doc = json.load(f)
    doc["micro_mesh"] = {"mm_flags": flags, "srv": shown(a.srv), "peers": peers, "skipped": skipped,
                         "machine": machine(), **summarize_grpc(doc)}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
    extra = render_grpc(doc)
    with open(report, "a") as f:
        f.write("\n" + extra)
    print(extra, end="")


def summarize_grpc(doc):
    """Medians over all rounds (as grpc.py's own table), ratios of mm to each peer, the targets.
    A target counts as met only if every mm run of its level was clean (grpc.py's OK, or only
    h2load's status-0 entries: boundary_only)."""
    levels = doc["levels"]
    rounds = doc["meta"]["rounds"]
    for r in levels:
        r["clean"] = bool(r["ok"] or boundary_only(r))
    keys = []
    for r in levels:
        if (r["conns"], r["streams"]) not in keys:
            keys.append((r["conns"], r["streams"]))

    def rows(name, c, m):
        return [r for r in levels if r["name"] == name and r["conns"] == c and r["streams"] == m]

    comps, targets = [], []
    for c, m in keys:
        comp = {"conns": c, "streams": m,
                "mm_clean": all(r["clean"] for r in rows("mm", c, m)) and bool(rows("mm", c, m)),
                "status0": sum((r.get("log_non200_statuses") or {}).get("0", 0) for r in levels
                               if r["conns"] == c and r["streams"] == m)}
        for name in ("mm", "grpc-go", "tonic"):
            for k in ("rps", "lat_p99_us", "server_cpu_us_per_req"):
                comp[f"{name}_{k}"] = med(r.get(k) for r in rows(name, c, m))
        for ref in ("grpc-go", "tonic"):
            comp[f"vs_{ref}"] = ratio(comp["mm_rps"], comp[f"{ref}_rps"])
            per_round = []
            for rnd in range(1, rounds + 1):
                x = [r for r in rows("mm", c, m) if r["round"] == rnd]
                z = [r for r in rows(ref, c, m) if r["round"] == rnd]
                if x and z:
                    per_round.append(ratio(x[0]["rps"], z[0]["rps"]))
            comp[f"vs_{ref}_median_of_rounds"] = med(per_round)
        comps.append(comp)
    for comp in comps:
        c, m, clean = comp["conns"], comp["streams"], comp["mm_clean"]
        flag = "" if clean else " (mm errors)"
        for ref, (g1, gm) in GRPC_GOALS.items():
            goal = g1 if m == 1 else gm
            targets.append(target(f"gRPC req/s vs {ref} c={c} m={m}", f">= {goal}x", comp[f"vs_{ref}"],
                                  lambda v, g=goal, ok=clean: ok and v >= g, extra=flag))
    for comp in comps:
        theirs, clean = ms(comp["grpc-go_lat_p99_us"]), comp["mm_clean"]
        targets.append(target(f"gRPC p99 vs grpc-go c={comp['conns']} m={comp['streams']} (ms)",
                              "-" if theirs is None else f"<= {theirs:.3f}",
                              ms(comp["mm_lat_p99_us"]) if theirs is not None else None,
                              lambda v, t=theirs, ok=clean: ok and v <= t, spec="{:.3f}",
                              extra="" if clean else " (mm errors)"))
    for comp in comps:
        targets.append(target(f"srv CPU µs/req c={comp['conns']} m={comp['streams']}", "reported",
                              comp["mm_server_cpu_us_per_req"], None, spec="{:.1f}",
                              extra=f" (grpc-go {fx(comp['grpc-go_server_cpu_us_per_req'], '{:.1f}')}, "
                                    f"tonic {fx(comp['tonic_server_cpu_us_per_req'], '{:.1f}')})"))
    mine = [r for r in levels if r["name"] == "mm"]
    bad = [f"c={r['conns']} m={r['streams']} r{r['round']}" for r in mine if not r["clean"]]
    targets.append(target("every mm run clean (h2load: no failure; sampled grpc-status all 0)", "all",
                          len(mine) - len(bad) if mine else None, lambda v: not bad, spec="{:d}",
                          extra=f" of {len(mine)}" + (f" (not: {', '.join(bad)})" if bad else "")))
    return {"comparison": comps, "targets": targets}


def render_grpc(doc):
    mm = doc["micro_mesh"]
    lines = [f"micro-mesh: mm = srv `{' '.join(mm['mm_flags'])}`"
             + (f"; skipped: {'; '.join(mm['skipped'])}" if mm["skipped"] else ""), "",
             "| c | m | mm req/s | mm / grpc-go | (per-round median) | mm / tonic | (per-round median) "
             "| p99 ms mm | grpc-go | tonic | srv CPU µs/req mm | grpc-go | tonic |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for x in mm["comparison"]:
        lines.append(
            f"| {x['conns']} | {x['streams']} | {fx(x['mm_rps'])} "
            f"| {fx(x['vs_grpc-go'], '{:.2f}')} | {fx(x['vs_grpc-go_median_of_rounds'], '{:.2f}')} "
            f"| {fx(x['vs_tonic'], '{:.2f}')} | {fx(x['vs_tonic_median_of_rounds'], '{:.2f}')} "
            + "".join(f"| {fx(ms(x[f'{n}_lat_p99_us']), '{:.3f}')} " for n in ("mm", "grpc-go", "tonic"))
            + "".join(f"| {fx(x[f'{n}_server_cpu_us_per_req'], '{:.1f}')} "
                      for n in ("mm", "grpc-go", "tonic")) + "|")
    s0 = sum(x["status0"] for x in mm["comparison"])
    if s0:
        lines += ["", f"grpc.py's \"h2load failed+errored+non-200\" column above counts {s0} request(s) "
                  f"that h2load logged with status 0 but counted as succeeded: {STATUS0}."]
    lines += [""] + targets_md(mm["targets"], "gRPC")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def cmd_report(a):
    with open(a.file) as f:
        doc = json.load(f)
    if "micro_mesh" in doc:
        # grpc.py's own tables first, when the peers directory of the run is still there
        grpc_py = os.path.join(doc["micro_mesh"].get("peers", ""), "grpc.py")
        if os.path.isfile(grpc_py):
            sys.stdout.flush()
            subprocess.run([sys.executable, grpc_py, "report", os.path.abspath(a.file)], check=False)
            print()
        doc["micro_mesh"].update(summarize_grpc(doc))
        print(render_grpc(doc), end="")
    elif "levels" in doc and "variants" in doc.get("meta", {}):
        doc["summary"] = summarize_h2(doc)
        print(render_h2(doc), end="")
    else:
        sys.exit(f"{a.file}: neither an h2-vs-h1 nor a finished gRPC results file")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    mm_help = f"srv's flags besides -server_address (default: {MM_FLAGS!r}; use --mm-flags='...')"
    p = sub.add_parser("grpc", help="srv vs grpc-go vs tonic with DIR/grpc.py (other options go to it: "
                                    "--rounds, --duration, --conns, --streams, --warmup, --threads, ...)")
    p.add_argument("--peers", required=True, help="a writable copy of the team's bench/ with grpc.py")
    p.add_argument("--srv", default=default_srv())
    p.add_argument("--mm-flags", default=MM_FLAGS, help=mm_help)
    p.add_argument("--out", default=os.path.join(RESULTS, "grpc.json"), help="tables go next to it (.md)")
    p = sub.add_parser("h2-vs-h1", help="HTTP/2 vs HTTP/1.1 JSON on srv, h2load with and without --h1")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=10, help="h2load -D seconds per run (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="h2load --warm-up-time (default 2)")
    p.add_argument("--threads", type=int, default=1, help="h2load -t (default 1, as grpc.py)")
    p.add_argument("--conns", default="16,128", help="h2load -c levels (default 16,128)")
    p.add_argument("--streams", default="1,10", help="HTTP/2 -m levels (default 1,10; HTTP/1.1 is m=1)")
    p.add_argument("--srv", default=default_srv())
    p.add_argument("--mm-flags", default=MM_FLAGS, help=mm_help)
    p.add_argument("--out", default=os.path.join(RESULTS, "h2-vs-h1.json"), help="tables go next to it (.md)")
    p = sub.add_parser("report", help="print the tables of a results file again")
    p.add_argument("file")
    a, rest = ap.parse_known_args()
    if a.cmd == "grpc":
        cmd_grpc(a, rest)
        return
    if rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    {"h2-vs-h1": cmd_h2_vs_h1, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        stop_all()
        sys.exit(130)
