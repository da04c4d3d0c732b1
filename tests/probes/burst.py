#!/usr/bin/env python3
"""Burst of N new connections to a fresh server (as micro/burst_connect.py: connect all, then one
POST on each, connections kept open); counts answers within WAIT seconds by status, and the
time of the last one. Usage: burst.py PORT N WAIT TRIALS -- CMD {addr}"""
import os, selectors, socket, subprocess, sys, time
port, n, wait, trials = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
cmd = [a.replace("{addr}", f"127.0.0.1:{port}") for a in sys.argv[sys.argv.index("--") + 1:]]
REQ = (b"POST /Example.Call HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       b"Content-Length: 15\r\n\r\n{\"name\":\"Hobo\"}")
for t in range(trials):
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    for _ in range(200):
        try: socket.create_connection(("127.0.0.1", port), timeout=1).close(); break
        except OSError: time.sleep(0.02)
    time.sleep(0.3)
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    t0 = time.monotonic()
    for s in socks: s.sendall(REQ)
    sel = selectors.DefaultSelector()
    for s in socks: sel.register(s, selectors.EVENT_READ)
    statuses, last = {}, 0.0
    deadline = t0 + wait
    while len(sel.get_map()) and time.monotonic() < deadline:
        for key, _ in sel.select(max(0, deadline - time.monotonic())):
            data = key.fileobj.recv(4096)
            st = data[9:12].decode() if data else "closed"
            statuses[st] = statuses.get(st, 0) + 1
            last = time.monotonic() - t0
            sel.unregister(key.fileobj)
    print(f"trial {t+1}: {n} connections, answered within {wait:.0f} s: {statuses}, "
          f"unanswered {len(sel.get_map())}, last answer after {last*1000:.0f} ms")
    for s in socks: s.close()
    proc.terminate(); proc.wait()
