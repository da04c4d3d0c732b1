"""/proc readings: CPU time, RSS and threads of process groups, the machine's busy and steal
time, TCP passive opens, load average; and the sampler of peak RSS and threads.
"""

import os
import resource
import threading

from .common import CLK_TCK, read


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
    names, values = [line.split()[1:] for line in read("/proc/net/snmp").splitlines()
                     if line.startswith("Tcp:")][:2]
    return int(dict(zip(names, values, strict=True))["PassiveOpens"])


def machine_cpu():
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat."""
    f = [int(x) for x in read("/proc/stat").splitlines()[0].split()[1:9]]
    # user nice system idle iowait irq softirq steal
    return (f[0] + f[1] + f[2] + f[5] + f[6]) / CLK_TCK, f[7] / CLK_TCK


def own_cpu_s():
    """CPU time of this harness itself (its sampler thread included)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def children_cpu_s():
    """CPU time of all reaped children; its delta around run_client is the client's."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
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
