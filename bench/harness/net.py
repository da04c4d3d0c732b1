"""Network: free loopback ports, one POST on a fresh connection, and starting a server until it
answers its first 200.
"""

import socket
import time

from .common import BODY, EXPECT
from .procs import spawn, stop


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


def start_listening(argv, port, log, env=None, timeout=15.0):
    """Start a server that speaks no HTTP/1.1 (grpc-go-server: h2c only) and poll every 1 ms
    until its port accepts a connection. Returns (Popen, ms from just before the exec)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        raise RuntimeError(f"port {port} already answers: refusing to measure another process")
    except OSError:
        pass
    t0 = time.monotonic()
    p = spawn(argv, log=log, env=env)
    while True:
        if p.poll() is not None:
            stop(p)
            raise RuntimeError(f"exited with code {p.returncode} before listening: {' '.join(argv)}")
        if time.monotonic() - t0 > timeout:
            stop(p)
            raise RuntimeError(f"not listening within {timeout} s: {' '.join(argv)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return p, (time.monotonic() - t0) * 1000.0
        except OSError:
            time.sleep(0.001)


def server_sockets(port):
    """The server side's connections on `port` still open (ESTABLISHED or CLOSE_WAIT), from
    /proc/net/tcp and tcp6: a connection a load generator closed stays in CLOSE_WAIT until the
    server has finished its request and closed too."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] in ("01", "08"):
                n += 1
    return n


def settle(port, timeout=5.0):
    """Waits until the server on `port` has finished what the last load generator left in
    flight (wrk closes its connections with requests outstanding, and a server that is still
    working on them counts them against its in-flight cap when the next run starts). Returns
    the seconds waited, or None if sockets were still open at the timeout."""
    t0 = time.monotonic()
    while server_sockets(port):
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(0.01)
    return round(time.monotonic() - t0, 3)
