"""The machine: CPU, kernel, memory, tool versions, scheduling sessions; waiting for a quiet
machine.
"""

import os
import platform
import subprocess
import time

from .common import MiB, ROOT, read
from .sysstat import loadavg


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
    mem = next((line.split()[1] for line in read("/proc/meminfo").splitlines()
                if line.startswith("MemTotal:")), None)
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


def sessions_text(one_session):
    auto = read("/proc/sys/kernel/sched_autogroup_enabled").strip()
    how = "one session for all processes" if one_session else "a session per process"
    return f"{how} (kernel autogroup {'on' if auto == '1' else 'off' if auto == '0' else 'unknown'})"


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
