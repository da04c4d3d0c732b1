"""Processes: everything the harness starts, each in its own process group (and session), so
that it can all be killed; the servers' log files.
"""

import os
import signal
import subprocess

from .common import HERE


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
