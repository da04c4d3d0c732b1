#!/usr/bin/env python3
"""Opens N connections to a fresh server and leaves them idle; reports the server's threads and
RSS and how many connections the server still holds open (ss), 2 s after the last one opened.
mode keepalive: each sends one request and reads the answer first; mode silent: none sends.
Usage: idle_conns.py PORT N MODE -- CMD {addr}"""
import os, socket, subprocess, sys, time
port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cmd = [a.replace("{addr}", f"127.0.0.1:{port}") for a in sys.argv[sys.argv.index("--") + 1:]]
REQ = (b"POST /Example.Call HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       b"Content-Length: 15\r\n\r\n{\"name\":\"Hobo\"}")
def status(pid):
    f = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status").read().splitlines() if ":" in l)
    return int(f["Threads"]), int(f["VmRSS"].split()[0]) / 1024
proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close(); break
    except OSError: time.sleep(0.02)
time.sleep(0.5)
t0, r0 = status(proc.pid)
socks, answered = [], 0
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if mode == "keepalive":
        s.sendall(REQ)
        try:
            if s.recv(4096): answered += 1
        except OSError: pass
    socks.append(s)
time.sleep(2)
t1, r1 = status(proc.pid)
est = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True).stdout
held = len([l for l in est.splitlines() if l.strip()])
print(f"{os.path.basename(cmd[0])} {' '.join(cmd[1:])} | {n} {mode} connections: "
      f"answered {answered}; server holds {held} open; threads {t0} -> {t1}; RSS {r0:.1f} -> {r1:.1f} MiB")
for s in socks: s.close()
proc.terminate(); proc.wait()
