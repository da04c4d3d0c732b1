"""Load generators: wrk (with bench/post.lua, whose BENCH line is parsed) and the client
benchmarks that print one JSON line.
"""

import json
import subprocess
import threading
import time

from .common import LUA
from .procs import GROUPING, LIVE


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
