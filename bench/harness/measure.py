"""Measuring: one round of one server or chain (start, idle footprint, wrk at each level, stop),
and one round of the client benchmark against a fixed server.
"""

import time

from .loadgen import run_client, wrk
from .net import free_port, settle, start, start_listening
from .plan import fill
from .procs import cap_log, logfile, stop
from .sysstat import (Sampler, children_cpu_s, cpu_s, group_pids, loadavg, machine_cpu, own_cpu_s,
                      passive_opens, rss_threads)


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
            pre = fill(t["pre"], addr=kw["pre_addr"])
            if t.get("pre_probe") == "tcp":  # a gRPC-only srv: ready once it accepts
                p, ms = start_listening(pre, pport, logs[-1], env=t.get("env"))
            else:
                p, ms = start(pre, pport, "/Example.Call", logs[-1], env=t.get("env"))
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
            # What the warm-up's wrk left in flight must not meet the measured run at the
            # in-flight cap (a 503 that no client would see in a steady state).
            settled = settle(port)
            sampler.reset()
            pids = [x for s in pgids for x in group_pids(s)]
            cpu0, opens0 = cpu_s(pids), passive_opens()
            (busy0, steal0), wrk0, self0, t0 = machine_cpu(), children_cpu_s(), own_cpu_s(), time.monotonic()
            r = wrk(port, path, c, duration)
            r["settle_s"] = settled
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
            settle(port)
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
