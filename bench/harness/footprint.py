"""Footprint and startup probes: binary sizes (stripped), how they are linked, and the time from
exec to the first 200.
"""

import os
import struct
import subprocess

from .common import HERE, shown
from .net import free_port, start
from .plan import fill
from .procs import cap_log, logfile, stop


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
