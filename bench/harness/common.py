"""Shared constants and small helpers: where things are, the request body, units, file reading."""

import os

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/
ROOT = os.path.dirname(HERE)
LUA = os.path.join(HERE, "post.lua")
BODY = b'{"name":"Hobo"}'
EXPECT = b"Hello Hobo"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MiB = 1024.0 * 1024.0


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def shown(path):
    """A path relative to the repository when inside it, else absolute."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path
