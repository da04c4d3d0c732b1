#!/usr/bin/env python3
"""micro-mesh benchmark harness (Python 3 stdlib only). Normally run by bench/run.sh.

  bench.py run [--rounds 3] [--duration 10] [--warmup 2] [--peers DIR] [--only IDS] ...
  bench.py report [bench/results/latest.json]      # markdown tables of the medians

`run` measures, on 127.0.0.1 only, in interleaved rounds (A B C ... A B C ...):

* single hop, `wrk -t1 -c1` / `-t2 -c16` / `-t2 -c128`, POST /Example.Call {"name":"Hobo"}:
  the srv example on `--server http` and `--server tiny_http`, and the peers found in
  --peers: Go net/http, axum, nginx;
* chains at c=16/128, wrk -> api -> srv (POST /example/call): ours (api + srv examples) and
  the seed stand-in (go-micro-like-api -> go-micro-like);
* clients alone: examples/bench_client next to the peer `client-ureq3 ... --timeout 0`
  (1 and 8 threads) against one fixed server (nginx if present, else our srv);
* startup to the first 200 (several starts per round), idle RSS, peak RSS/threads during the
  runs, server CPU us per request, stripped binary sizes.

Everything it starts runs in its own session and is killed (whole group) at the end, on
failure and on SIGINT/SIGTERM. Medians are taken over rounds; wrk and client errors are
recorded per run and summed in the summary, never dropped.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LUA = os.path.join(HERE, "post.lua")
BODY = b'{"name":"Hobo"}'
EXPECT = b"Hello Hobo"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MiB = 1024.0 * 1024.0

# ---------------------------------------------------------------------------
# processes: everything we start, so that it can all be killed
# ---------------------------------------------------------------------------

LIVE = set()

# Each process we start leads its own process group, so that it can be killed whole. By default
# it also gets a session of its own, and with the kernel's autogroup scheduling (on in most
# distributions) a session is a scheduling group: CPU is shared group against group, as between
# pods in their own cgroups. `--one-session` keeps everything in our session (one group).
GROUPING = {"start_new_session": True}


def isolate(one_session):
    GROUPING.clear()
    GROUPING.update({"process_group": 0} if one_session else {"start_new_session": True})


def spawn(argv, log=None, env=None):
    """Start argv in a new process group (and session, see GROUPING); remember it."""
    out = log if log is not None else subprocess.DEVNULL
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                         env=dict(os.environ, **env) if env else None, **GROUPING)
    LIVE.add(p)
    return p


def stop(p, grace=5.0):
    """SIGTERM the group, SIGKILL after `grace` s (at once if 0), and SIGKILL any straggler."""
    steps = ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)) if grace else ((signal.SIGKILL, 5.0),)
    for sig, wait in steps:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(p.pid, signal.SIGKILL)  # e.g. nginx workers
    except ProcessLookupError:
        pass
    LIVE.discard(p)


def stop_all():
    for p in list(LIVE):
        stop(p, grace=1.0)


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


# ---------------------------------------------------------------------------
# /proc
# ---------------------------------------------------------------------------

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def group_pids(pgid):
    """All processes of the process group `pgid` (each server is started as a group leader)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            s = read(f"/proc/{d}/stat")
            if s and int(s[s.rfind(")") + 2:].split()[2]) == pgid:
                pids.append(int(d))
    return pids


def cpu_s(pids):
    """utime + stime (+ reaped children) summed over pids, in seconds."""
    total = 0
    for pid in pids:
        s = read(f"/proc/{pid}/stat")
        if s:
            f = s[s.rfind(")") + 2:].split()
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / CLK_TCK


def rss_threads(pids):
    """(sum of VmRSS in KiB, sum of Threads) over pids."""
    rss = thr = 0
    for pid in pids:
        for line in read(f"/proc/{pid}/status").splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
            elif line.startswith("Threads:"):
                thr += int(line.split()[1])
    return rss, thr


def passive_opens():
    lines = [l.split() for l in read("/proc/net/snmp").splitlines() if l.startswith("Tcp:")]
    return int(dict(zip(lines[0][1:], lines[1][1:]))["PassiveOpens"])


def machine_cpu():
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat."""
    f = [int(x) for x in read("/proc/stat").splitlines()[0].split()[1:9]]
    # user nice system idle iowait irq softirq steal
    return (f[0] + f[1] + f[2] + f[5] + f[6]) / CLK_TCK, f[7] / CLK_TCK


def own_cpu_s():
    """CPU time of this harness itself (its sampler thread included)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def loadavg():
    return [float(x) for x in read("/proc/loadavg").split()[:3]]


class Sampler(threading.Thread):
    """Peak RSS and thread count of some process groups, sampled every 100 ms."""

    def __init__(self, pgids):
        super().__init__(daemon=True)
        self.pgids, self.halt = pgids, threading.Event()
        self.lock = threading.Lock()
        self.pids = [p for s in pgids for p in group_pids(s)]
        self.reset()

    def reset(self):
        with self.lock:
            self.rss = self.thr = 0

    def peaks(self):
        with self.lock:
            return self.rss, self.thr

    def run(self):
        n = 0
        while not self.halt.wait(0.1):
            n += 1
            if n % 10 == 0:  # re-scan the trees once a second
                self.pids = [p for s in self.pgids for p in group_pids(s)]
            rss, thr = rss_threads(self.pids)
            with self.lock:
                self.rss, self.thr = max(self.rss, rss), max(self.thr, thr)


# ---------------------------------------------------------------------------
# network
# ---------------------------------------------------------------------------

USED_PORTS = set()


def free_port():
    """A free loopback port, never handed out twice in one run."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in USED_PORTS:
            USED_PORTS.add(port)
            return port


def post(port, path, timeout=2.0):
    """One POST of BODY on a fresh connection: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                  % (path.encode(), port, len(BODY), BODY))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    status = int(parts[1]) if head.startswith(b"HTTP/") and len(parts) > 1 else 0
    return status, body


def start(argv, port, path, log, env=None, timeout=15.0):
    """Start a server and poll every 1 ms until `path` answers 200 with EXPECT.
    Returns (Popen, ms from just before the exec to that first 200)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        raise RuntimeError(f"port {port} already answers: refusing to measure another process")
    except OSError:
        pass
    t0 = time.monotonic()
    p = spawn(argv, log=log, env=env)
    last = None
    while True:
        if p.poll() is not None:
            stop(p)
            raise RuntimeError(f"exited with code {p.returncode} before answering: {' '.join(argv)}")
        if time.monotonic() - t0 > timeout:
            stop(p)
            raise RuntimeError(f"no 200 within {timeout} s ({last}): {' '.join(argv)}")
        try:
            status, body = post(port, path)
            if status == 200 and EXPECT in body:
                return p, (time.monotonic() - t0) * 1000.0
            last = f"status {status} body {body[:80]!r}"
        except OSError as e:
            last = repr(e)
        time.sleep(0.001)


# ---------------------------------------------------------------------------
# wrk and clients
# ---------------------------------------------------------------------------

def wrk(port, path, conns, duration):
    threads = 1 if conns == 1 else 2
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "-s", LUA,
            f"http://127.0.0.1:{port}{path}"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **GROUPING)
    LIVE.add(p)
    out = p.communicate()[0].decode(errors="replace")
    LIVE.discard(p)
    res = None
    for line in out.splitlines():
        if line.startswith("BENCH "):
            res = json.loads(line[6:])
    if res is None:
        raise RuntimeError(f"wrk printed no summary (exit {p.returncode}):\n{out}")
    res["rps"] = res["requests"] * 1e6 / res["duration_us"] if res["duration_us"] else 0.0
    res["errors"] = sum(res[k] for k in ("err_connect", "err_read", "err_write",
                                         "err_timeout", "err_status"))
    res["wrk_threads"] = threads
    return res


def run_client(argv, timeout=300.0):
    """Run a client that prints one JSON line; add its exit code, CPU time and wall time."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **GROUPING)
    LIVE.add(p)
    killer = threading.Timer(timeout, lambda: p.kill())
    killer.start()
    out, err = p.communicate()
    killer.cancel()
    LIVE.discard(p)
    res = {}
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                res = json.loads(line)
            except ValueError:
                pass
    res["rc"] = p.returncode
    res["process_wall_s"] = time.monotonic() - t0
    if p.returncode != 0 or not res.get("calls_per_s"):
        res["stderr"] = err.decode(errors="replace")[-400:]
    return res


def children_cpu_s():
    """CPU time of all reaped children; its delta around run_client is the client's."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# ---------------------------------------------------------------------------
# binaries
# ---------------------------------------------------------------------------

def elf_interp(path):
    """The ELF program interpreter (PT_INTERP) of a 64-bit little-endian binary, or None (static)."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return None
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        off = phoff + i * phentsize
        p_type, = struct.unpack_from("<I", data, off)
        if p_type == 3:  # PT_INTERP
            p_offset, = struct.unpack_from("<Q", data, off + 8)
            p_filesz, = struct.unpack_from("<Q", data, off + 32)
            with open(path, "rb") as f:
                f.seek(p_offset)
                return f.read(p_filesz).rstrip(b"\0").decode()
    return None


def shown(path):
    """A path relative to the repository when inside it, else absolute."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def binary_info(path):
    """Size, size after `strip` (binutils) of a copy, and how it is linked."""
    if not path or not os.path.exists(path):
        return None
    tmp = os.path.join(HERE, "tmp", f"stripped-{os.getpid()}-{os.path.basename(path)}")
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    info = {"path": shown(path), "bytes": os.path.getsize(path)}
    try:
        subprocess.run(["strip", "-o", tmp, path], check=True, capture_output=True)
        info["stripped_bytes"] = os.path.getsize(tmp)
    except (OSError, subprocess.CalledProcessError) as e:
        info["stripped_bytes"] = None
        info["strip_error"] = str(e)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    try:
        interp = elf_interp(path)
    except (OSError, struct.error):
        interp = "?"
    info["linking"] = (f"dynamic ({'glibc' if 'ld-linux' in interp else interp}, {interp})"
                       if interp else "static")
    return info


# ---------------------------------------------------------------------------
# what is measured
# ---------------------------------------------------------------------------

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
    if have(gml, "go-micro-like chain (go-micro-like)") and have(gmla, "go-micro-like chain (go-micro-like-api)"):
        out.append({"id": "gomicro-chain", "label": "go-micro-like api -> srv (seed stand-in)",
                    "kind": "chain", "bin": gmla, "path": "/example/call",
                    "pre": [gml, "{addr}"], "cmd": [gmla, "{addr}", "{pre_addr}"]})
    return out


def fill(argv, **kw):
    return [a.format(**kw) for a in argv]


def logfile(name):
    """A fresh log file for a server's stdout and stderr (see cap_log)."""
    os.makedirs(os.path.join(HERE, "tmp", "logs"), exist_ok=True)
    return open(os.path.join(HERE, "tmp", "logs", f"{name}.log"), "wb")


def cap_log(f, keep=256 * 1024):
    """Close a server log; an access log of millions of lines is cut to its first `keep` bytes."""
    f.close()
    if os.path.getsize(f.name) > keep:
        with open(f.name, "r+b") as g:
            g.truncate(keep)
            g.seek(0, 2)
            g.write(b"\n[... cut by bench.py ...]\n")


def bench_target(t, conns_list, duration, warmup, round_no):
    """One round of one server or chain: start, idle footprint, wrk at each level, stop."""
    rec = {"id": t["id"], "round": round_no, "ok": False, "loadavg_before": loadavg(),
           "levels": {}}
    procs, logs, sampler = [], [], None
    try:
        kw = {}
        if "pre" in t:
            pport = free_port()
            kw["pre_addr"] = f"127.0.0.1:{pport}"
            logs.append(logfile(t["id"] + "-pre"))
            p, ms = start(fill(t["pre"], addr=kw["pre_addr"]), pport, "/Example.Call", logs[-1],
                          env=t.get("env"))
            procs.append(p)
            rec["pre_startup_ms"] = ms
        port = free_port()
        path = t.get("path", "/Example.Call")
        logs.append(logfile(t["id"]))
        argv = fill(t["cmd"], addr=f"127.0.0.1:{port}", **kw)
        rec["cmd"] = argv
        p, rec["startup_ms"] = start(argv, port, path, logs[-1], env=t.get("env"))
        procs.append(p)
        pgids = [q.pid for q in procs]
        time.sleep(0.3)
        pids = [x for s in pgids for x in group_pids(s)]
        rss, thr = rss_threads(pids)
        rec["idle_rss_kib"], rec["idle_threads"], rec["processes"] = rss, thr, len(pids)
        sampler = Sampler(pgids)
        sampler.start()
        for c in conns_list:
            if warmup > 0:
                wrk(port, path, c, warmup)
            sampler.reset()
            pids = [x for s in pgids for x in group_pids(s)]
            cpu0, opens0 = cpu_s(pids), passive_opens()
            (busy0, steal0), wrk0, self0, t0 = machine_cpu(), children_cpu_s(), own_cpu_s(), time.monotonic()
            r = wrk(port, path, c, duration)
            (busy1, steal1), wrk1, self1, t1 = machine_cpu(), children_cpu_s(), own_cpu_s(), time.monotonic()
            opens1 = passive_opens()
            pids = [x for s in pgids for x in group_pids(s)]
            r["server_cpu_s"] = cpu_s(pids) - cpu0
            # Everyone else: machine busy time minus server, wrk (the only child reaped
            # meanwhile) and this harness, in cores; plus the hypervisor's steal.
            r["wrk_cpu_s"] = wrk1 - wrk0
            r["machine_busy_cores"] = (busy1 - busy0) / (t1 - t0)
            r["other_cores"] = max(0.0, (busy1 - busy0) - r["server_cpu_s"] - r["wrk_cpu_s"]
                                   - (self1 - self0)) / (t1 - t0)
            r["steal_cores"] = (steal1 - steal0) / (t1 - t0)
            r["server_cpu_us_per_req"] = (r["server_cpu_s"] * 1e6 / r["requests"]
                                          if r["requests"] else None)
            r["peak_rss_kib"], r["peak_threads"] = sampler.peaks()
            r["new_conns"] = opens1 - opens0
            rec["levels"][str(c)] = r
            print(f"  r{round_no} {t['id']:<14} c={c:<4} {r['rps']:>9.0f} rps  "
                  f"p50 {r['lat_p50_us'] / 1000:.3f} ms  p99 {r['lat_p99_us'] / 1000:.3f} ms  "
                  f"cpu {r['server_cpu_us_per_req'] or 0:.1f} us/req  "
                  f"rss {r['peak_rss_kib'] / 1024:.1f} MiB  thr {r['peak_threads']}  "
                  f"errors {r['errors']}  others {r['other_cores']:.2f} cores", flush=True)
            if r["errors"]:
                print(f"  !! {t['id']} c={c}: {r['errors']} request errors "
                      f"(connect {r['err_connect']}, read {r['err_read']}, write {r['err_write']}, "
                      f"timeout {r['err_timeout']}, non-2xx {r['err_status']})", flush=True)
        rec["ok"] = True
    except (RuntimeError, OSError) as e:
        rec["error"] = str(e)
        print(f"  !! r{round_no} {t['id']} failed: {e}", flush=True)
    finally:
        if sampler:
            sampler.halt.set()
        for p in reversed(procs):  # front first
            stop(p)
        for f in logs:
            cap_log(f)
    rec["loadavg_after"] = loadavg()
    return rec


def bench_startups(t, n):
    """n starts: ms from exec to the first 200 (1 ms polling), each on a fresh port."""
    out = []
    log = logfile(t["id"] + "-startup")
    try:
        for _ in range(n):
            port = free_port()
            try:
                p, ms = start(fill(t["cmd"], addr=f"127.0.0.1:{port}"), port,
                              t.get("path", "/Example.Call"), log, env=t.get("env"))
                stop(p, grace=0)  # SIGKILL: a graceful drain would only slow the loop down
                out.append(ms)
            except (RuntimeError, OSError) as e:
                print(f"  !! startup {t['id']}: {e}", flush=True)
    finally:
        cap_log(log)
    return out


def bench_clients(server, clients, modes, round_no):
    """One round of the client benchmark against one fixed server."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/Example.Call"
    recs = []
    with logfile("client-server-" + server["id"]) as log:
        try:
            p, _ = start(fill(server["cmd"], addr=f"127.0.0.1:{port}"), port, "/Example.Call", log,
                         env=server.get("env"))
        except (RuntimeError, OSError) as e:
            print(f"  !! client server {server['id']} failed: {e}", flush=True)
            return [{"round": round_no, "server": server["id"], "error": str(e)}]
        try:
            for threads, calls in modes:
                for c in clients:
                    argv = fill(c["cmd"], url=url, calls=calls, threads=threads)
                    cpu0 = children_cpu_s()
                    r = run_client(argv)
                    r["client_cpu_us_per_call"] = ((children_cpu_s() - cpu0) * 1e6 / r["calls"]
                                                   if r.get("calls") else None)
                    r.update({"id": c["id"], "round": round_no, "server": server["id"],
                              "threads": threads, "calls_requested": calls, "argv": argv})
                    errs = r.get("errors")
                    print(f"  r{round_no} {c['id']:<14} {threads} thr  "
                          f"{r.get('calls_per_s', 0):>9.0f} calls/s  p50 {r.get('p50_us', 0):.0f} us  "
                          f"p99 {r.get('p99_us', 0):.0f} us  errors {errs}  exit {r['rc']}", flush=True)
                    if r["rc"] != 0 or errs:
                        print(f"  !! {c['id']} {threads} thr: exit {r['rc']}, errors {errs} "
                              f"{r.get('stderr', '')}", flush=True)
                    recs.append(r)
        finally:
            stop(p)
    return recs


# ---------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b else None


def summarize(data):
    s = {"servers": {}, "clients": {}, "ratios": {}, "errors_total": 0}
    for t in data["targets"]:
        recs = [r for r in data["rounds"] if r["id"] == t["id"] and r.get("ok")]
        levels = {}
        for c in data["config"]["conns"] if t["kind"] == "single" else data["config"]["chain_conns"]:
            rs = [r["levels"][str(c)] for r in recs if str(c) in r["levels"]]
            if not rs:
                continue
            errors = sum(x["errors"] for x in rs)
            s["errors_total"] += errors
            levels[str(c)] = {
                "rps": med(x["rps"] for x in rs),
                "rps_min": min(x["rps"] for x in rs), "rps_max": max(x["rps"] for x in rs),
                "p50_ms": med(x["lat_p50_us"] / 1000 for x in rs),
                "p99_ms": med(x["lat_p99_us"] / 1000 for x in rs),
                "cpu_us_per_req": med(x["server_cpu_us_per_req"] for x in rs),
                "peak_rss_mib": med(x["peak_rss_kib"] / 1024 for x in rs),
                "peak_threads": med(x["peak_threads"] for x in rs),
                "new_conns": med(x["new_conns"] for x in rs),
                "other_cores": med(x.get("other_cores") for x in rs),
                "errors": errors, "rounds": len(rs),
            }
        starts = data["startups"].get(t["id"], [])
        b = data["binaries"].get(t["id"]) or {}
        s["servers"][t["id"]] = {
            "label": t["label"], "kind": t["kind"], "levels": levels,
            "rounds_ok": len(recs),
            "rounds_failed": len([r for r in data["rounds"] if r["id"] == t["id"] and not r.get("ok")]),
            "idle_rss_mib": med(r["idle_rss_kib"] / 1024 for r in recs),
            "idle_threads": med(r["idle_threads"] for r in recs),
            "startup_ms": med(starts) if starts else med(r.get("startup_ms") for r in recs),
            "startup_samples": len(starts),
            "stripped_mib": b["stripped_bytes"] / MiB if b.get("stripped_bytes") else None,
        }
    for ref in ("go", "axum"):
        rr = s["servers"].get(ref)
        if not rr:
            continue
        out = {}
        for sid, sv in s["servers"].items():
            if sv["kind"] != "single":
                continue
            of_medians = {c: ratio(lv["rps"], rr["levels"].get(c, {}).get("rps"))
                          for c, lv in sv["levels"].items()}
            # also the median of the per-round ratios (same round = same machine state)
            per_round = {}
            for c in sv["levels"]:
                xs = []
                for rnd in range(1, data["config"]["rounds"] + 1):
                    a = [r for r in data["rounds"] if r["id"] == sid and r["round"] == rnd and r.get("ok")]
                    z = [r for r in data["rounds"] if r["id"] == ref and r["round"] == rnd and r.get("ok")]
                    if a and z and c in a[0]["levels"] and c in z[0]["levels"]:
                        xs.append(ratio(a[0]["levels"][c]["rps"], z[0]["levels"][c]["rps"]))
                per_round[c] = med(xs)
            out[sid] = {"of_medians": of_medians, "median_of_rounds": per_round}
        s["ratios"]["vs_" + ref] = out
    for r in data["clients"]:
        if "id" not in r:
            continue
        s["clients"].setdefault(str(r["threads"]), {}).setdefault(r["id"], []).append(r)
    for th, by in s["clients"].items():
        for cid, rs in list(by.items()):
            errors = sum((x.get("errors") or 0) + (1 if x["rc"] != 0 else 0) for x in rs)
            s["errors_total"] += errors
            by[cid] = {
                "calls_per_s": med(x.get("calls_per_s") for x in rs),
                "min": min((x.get("calls_per_s") or 0) for x in rs),
                "max": max((x.get("calls_per_s") or 0) for x in rs),
                "p50_us": med(x.get("p50_us") for x in rs),
                "p99_us": med(x.get("p99_us") for x in rs),
                "cpu_us_per_call": med(x.get("client_cpu_us_per_call") for x in rs),
                "errors": errors, "rounds": len(rs), "server": rs[0]["server"],
            }
    others = [lv["other_cores"] for r in data["rounds"] for lv in r["levels"].values()
              if "other_cores" in lv]
    steal = [lv["steal_cores"] for r in data["rounds"] for lv in r["levels"].values()
             if "steal_cores" in lv]
    s["other_cores"] = {"median": med(others), "max": max(others) if others else None,
                        "steal_median": med(steal)}
    s["targets"] = targets_check(s)
    return s


def targets_check(s):
    """ISSUE 7's targets, as measured in this run (None = not measured)."""
    sv, out = s["servers"], []

    def lv(sid, c, key):
        return sv.get(sid, {}).get("levels", {}).get(c, {}).get(key)

    def add(name, value, goal, ok):
        out.append({"target": name, "value": value, "goal": goal,
                    "met": None if value is None else ok(value)})

    for c in ("16", "128"):
        for ref, goal in (("go", 1.5), ("axum", 0.9)):
            add(f"http rps vs {ref} c={c}", ratio(lv("mm-http", c, "rps"), lv(ref, c, "rps")),
                f">= {goal}x", lambda v, g=goal: v >= g)
            mine, theirs = lv("mm-http", c, "p99_ms"), lv(ref, c, "p99_ms")
            add(f"http p99 vs {ref} c={c} (ms)", mine if theirs is not None else None,
                f"<= {theirs:.2f}" if theirs is not None else "-", lambda v, t=theirs: v <= t)
        add(f"chain / single hop c={c}", ratio(lv("mm-chain", c, "rps"), lv("mm-http", c, "rps")),
            ">= 0.45x", lambda v: v >= 0.45)
    for th in ("1", "8"):
        by = s["clients"].get(th, {})
        add(f"client vs ureq {th} thr",
            ratio(by.get("mm-client", {}).get("calls_per_s"), by.get("ureq3", {}).get("calls_per_s")),
            ">= 0.95x", lambda v: v >= 0.95)
    http = sv.get("mm-http", {})
    add("idle RSS (MiB)", http.get("idle_rss_mib"), "< 3", lambda v: v < 3)
    add("stripped srv (MiB)", http.get("stripped_mib"), "< 1.5", lambda v: v < 1.5)
    add("startup (ms)", http.get("startup_ms"), "< 5", lambda v: v < 5)
    return out


# ---------------------------------------------------------------------------
# machine info
# ---------------------------------------------------------------------------

def cmd_out(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def machine():
    model = None
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = next((l.split()[1] for l in read("/proc/meminfo").splitlines()
                if l.startswith("MemTotal:")), None)
    return {
        "nproc": len(os.sched_getaffinity(0)), "cpu_model": model,
        "kernel": platform.release(), "os": cmd_out(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "mem_gib": round(int(mem) / MiB, 1) if mem else None,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "rustc": cmd_out(["rustc", "-V"]), "go": cmd_out(["go", "version"]),
        "nginx": cmd_out(["nginx", "-v"]), "wrk": cmd_out(["wrk", "-v"]),
        "python": platform.python_version(),
        "git": cmd_out(["git", "-C", ROOT, "describe", "--always", "--dirty"]),
    }


# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------

def wait_load(limit, max_wait):
    """Wait until the 1-minute load average is below `limit` (polls every 30 s)."""
    t0 = time.monotonic()
    while True:
        la = loadavg()[0]
        waited = time.monotonic() - t0
        if la < limit:
            return {"limit": limit, "waited_s": round(waited), "load1": la, "settled": True}
        if waited >= max_wait:
            print(f"load {la:.2f} still >= {limit} after {waited:.0f} s: measuring anyway", flush=True)
            return {"limit": limit, "waited_s": round(waited), "load1": la, "settled": False}
        print(f"load {la:.2f} >= {limit}: waiting (up to {max_wait - waited:.0f} s more)", flush=True)
        time.sleep(30)


def cmd_run(a):
    isolate(a.one_session)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    rel = os.path.join(target_dir, "release")
    bins = {"srv": os.path.join(rel, "examples", "srv"), "api": os.path.join(rel, "examples", "api"),
            "bench_client": os.path.join(rel, "examples", "bench_client"),
            "micro-mesh": os.path.join(rel, "micro-mesh")}
    for k, v in bins.items():
        if not os.path.exists(v):
            sys.exit(f"{v} missing: build with `cargo build --release --examples --bins` (bench/run.sh does)")
    peers = os.path.abspath(a.peers) if a.peers else None
    if peers and not os.path.isdir(peers):
        print(f"skip: peers directory {peers} not found", flush=True)
        peers = None
    skipped = []
    all_targets = targets(bins, peers, skipped, a.log_level, a.access_log)
    tl = [t for t in all_targets if not a.only or t["id"] in a.only.split(",")]
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
    by_id = {t["id"]: t for t in all_targets}
    client_server = by_id.get("nginx") or by_id["mm-http"]

    load = wait_load(a.wait_load, a.wait_load_max) if a.wait_load else None
    data = {
        "schema": 1, "machine": machine(),
        "config": {"rounds": a.rounds, "duration_s": a.duration, "warmup_s": a.warmup,
                   "conns": conns, "chain_conns": chain_conns, "starts_per_round": a.starts,
                   "client_modes": [{"threads": t, "calls": c} for t, c in modes],
                   "client_server": client_server["id"], "peers": peers and shown(peers),
                   "micro_log_level": a.log_level, "access_log_variant": a.access_log,
                   "wrk": "-t1 -c1 / -t2 -cN, --latency, bench/post.lua",
                   "host": "127.0.0.1", "sessions": sessions_text(a.one_session)},
        "load": {"wait": load, "start": loadavg()},
        "skipped": skipped,
        "targets": [{"id": t["id"], "label": t["label"], "kind": t["kind"],
                     "chart": t.get("chart", True), "env": t.get("env")} for t in tl],
        "clients_measured": [{"id": c["id"], "label": c["label"]} for c in clients],
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


def load_range(data):
    """Lowest and highest 1-minute load average seen at start, end and around every server."""
    xs = [data["load"]["start"][0], data["load"].get("end", data["load"]["start"])[0]]
    for r in data["rounds"]:
        xs += [r["loadavg_before"][0], r.get("loadavg_after", r["loadavg_before"])[0]]
    return min(xs), max(xs)


def others_text(data):
    """What else ran on the machine during the measured runs."""
    lo, hi = load_range(data)
    oc = data["summary"].get("other_cores") or {}
    text = ""
    if oc.get("median") is not None:
        text = (f"Other processes used a median {oc['median']:.2f} (max {oc['max']:.2f}) of the "
                f"{data['machine']['nproc']} cores during the measured runs; ")
    return text + (f"1-minute load average {lo:.1f} to {hi:.1f} (it counts the benchmark's own "
                   f"runnable threads too: hundreds at 128 connections for thread-per-connection "
                   f"servers).")


def sessions_text(one_session):
    auto = read("/proc/sys/kernel/sched_autogroup_enabled").strip()
    how = "one session for all processes" if one_session else "a session per process"
    return f"{how} (kernel autogroup {'on' if auto == '1' else 'off' if auto == '0' else 'unknown'})"


def fmt(x, spec="{:.0f}"):
    return "-" if x is None else spec.format(x)


def report(data):
    """Markdown tables of the medians (what README's Performance section shows)."""
    s, m, cfg = data["summary"], data["machine"], data["config"]
    sv = s["servers"]
    lo, hi = load_range(data)
    lines = [f"{m['date']}, {m['cpu_model']}, {m['nproc']} cores, kernel {m['kernel']}; "
             f"{cfg['rounds']} interleaved rounds x {cfg['duration_s']} s per level "
             f"({data.get('elapsed_s', 0) / 60:.0f} min), {cfg.get('sessions', 'a session per process')}. "
             f"{others_text(data)}", ""]
    lines += ["| server | rps c=1 | rps c=16 | rps c=128 | p99 ms c=1 / 16 / 128 | "
              "CPU µs/req c=16 / 128 | idle RSS MiB | RSS MiB / threads c=128 | startup ms | "
              "stripped MiB | errors |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for sid, v in sv.items():
        if v["kind"] != "single":
            continue
        L = v["levels"]

        def g(c, k, spec="{:.0f}"):
            return fmt(L.get(c, {}).get(k), spec)
        lines.append(
            f"| {v['label']} | {g('1', 'rps')} | {g('16', 'rps')} | {g('128', 'rps')} | "
            f"{g('1', 'p99_ms', '{:.2f}')} / {g('16', 'p99_ms', '{:.2f}')} / {g('128', 'p99_ms', '{:.2f}')} | "
            f"{g('16', 'cpu_us_per_req', '{:.1f}')} / {g('128', 'cpu_us_per_req', '{:.1f}')} | "
            f"{fmt(v['idle_rss_mib'], '{:.1f}')} | {g('128', 'peak_rss_mib', '{:.1f}')} / "
            f"{g('128', 'peak_threads')} | {fmt(v['startup_ms'], '{:.1f}')} | "
            f"{fmt(v['stripped_mib'], '{:.2f}')} | {sum(l['errors'] for l in L.values())} |")
    lines += ["", "| ratio of rps medians | c=1 | c=16 | c=128 |", "|---|---|---|---|"]
    for ref in ("go", "axum"):
        for sid in ("mm-http", "mm-tiny", "mm-http-log"):
            r = s["ratios"].get("vs_" + ref, {}).get(sid, {}).get("of_medians")
            if r:
                lines.append(f"| {sv[sid]['label']} / {sv[ref]['label']} | "
                             + " | ".join(fmt(r.get(c), "{:.2f}") for c in ("1", "16", "128")) + " |")
    lines += ["", "| chain (wrk -> api -> srv) | rps c=16 | rps c=128 | p99 ms c=16 / 128 | "
              "CPU µs/req c=16 / 128 (both processes) | RSS MiB c=128 | errors |",
              "|---|---|---|---|---|---|---|"]
    for sid, v in sv.items():
        if v["kind"] != "chain":
            continue
        L = v["levels"]
        lines.append(
            f"| {v['label']} | {fmt(L.get('16', {}).get('rps'))} | {fmt(L.get('128', {}).get('rps'))} | "
            f"{fmt(L.get('16', {}).get('p99_ms'), '{:.2f}')} / {fmt(L.get('128', {}).get('p99_ms'), '{:.2f}')} | "
            f"{fmt(L.get('16', {}).get('cpu_us_per_req'), '{:.1f}')} / "
            f"{fmt(L.get('128', {}).get('cpu_us_per_req'), '{:.1f}')} | "
            f"{fmt(L.get('128', {}).get('peak_rss_mib'), '{:.1f}')} | "
            f"{sum(l['errors'] for l in L.values())} |")
    if s["clients"]:
        srv_label = sv.get(cfg["client_server"], {}).get("label", cfg["client_server"])
        lines += ["", f"| client -> {srv_label} | threads | calls/s | p50 µs | p99 µs | "
                  "client CPU µs/call | errors |", "|---|---|---|---|---|---|---|"]
        labels = {c["id"]: c["label"] for c in data["clients_measured"]}
        for th in sorted(s["clients"], key=int):
            for cid, v in s["clients"][th].items():
                lines.append(f"| {labels.get(cid, cid)} | {th} | {fmt(v['calls_per_s'])} | "
                             f"{fmt(v['p50_us'])} | {fmt(v['p99_us'])} | "
                             f"{fmt(v['cpu_us_per_call'], '{:.1f}')} | {v['errors']} |")
    lines += ["", "| ISSUE 7 target | measured | goal | met |", "|---|---|---|---|"]
    for t in s["targets"]:
        met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
        lines.append(f"| {t['target']} | {fmt(t['value'], '{:.2f}')} | {t['goal']} | {met} |")
    if data["skipped"]:
        lines += ["", "Skipped: " + "; ".join(data["skipped"]) + "."]
    return "\n".join(lines)


def cmd_report(a):
    with open(a.file) as f:
        print(report(json.load(f)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
                   help="comma-separated ids: mm-http,mm-tiny,mm-http-log,go,axum,nginx,mm-chain,"
                        "gomicro-chain,clients")
    r.add_argument("--wait-load", type=float, default=None,
                   help="first wait until the 1-minute load average is below this (polls every 30 s)")
    r.add_argument("--wait-load-max", type=float, default=1200, help="give up waiting after this many s")
    r.add_argument("--log-level", default="warn",
                   help="MICRO_LOG_LEVEL of our services (default warn: no access log, as the peers)")
    r.add_argument("--no-access-log", dest="access_log", action="store_false",
                   help="skip the variant mm-http-log (srv on http with its default access log)")
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


if __name__ == "__main__":
    main()
