#!/usr/bin/env python3
"""Lays out what the Dockerfile's build stage sees, without Docker.

    python3 deploy/docker_context.py [--root TREE] DEST

Reads the build context's rules from .dockerignore (Docker's semantics: patterns match the path
or any parent directory, `*` and `?` stay within one path segment, `**` spans any, `!` re-includes,
the last matching pattern wins) and makes DEST hold exactly the files the Dockerfile's `COPY`
lines (those without --from) take from the context: the sources come from TREE (default: this
repository; the Dockerfile and .dockerignore always do). DEST is synced, not rewritten: a file
whose bytes are unchanged keeps its mtime and a changed one gets a new one, so cargo's
mtime-based freshness rebuilds exactly when the content changed, whichever tree it came from.
Fails, as `docker build` would, when a COPY source is missing from the context.
"""

import os
import re
import shlex
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pattern_regex(pattern):
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out, i = out + "(?:/)?", i + 1
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = pattern.find("]", i)
            if j == -1:
                out += re.escape(c)
            else:
                out += pattern[i:j + 1].replace("[!", "[^")
                i = j
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


def load_ignore(path):
    rules = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                negate = line.startswith("!")
                pat = os.path.normpath(line[1:].strip() if negate else line).lstrip("/")
                rules.append((negate, pattern_regex(pat)))
    return rules


def ignored(rel, rules):
    parts = rel.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for negate, rx in rules:
        if any(rx.match(c) for c in candidates):
            result = not negate
    return result


def copy_sources(dockerfile):
    """Sources of the COPY lines that read the build context (no --from)."""
    sources = []
    with open(dockerfile) as f:
        text = f.read().replace("\\\n", " ")
    for line in text.splitlines():
        words = shlex.split(line, comments=True) if line.strip() else []
        if not words or words[0].upper() != "COPY":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        *srcs, dst = args
        for src in srcs:
            # The simulation keeps each source at its own path under WORKDIR.
            if os.path.normpath(dst) not in (".", os.path.normpath(src)):
                sys.exit(f"FAIL: COPY {src} {dst}: docker_context.py only lays out sources at their own path")
        sources += srcs
    return sources


def same_bytes(a, b):
    if not os.path.isfile(b) or os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def main():
    args = sys.argv[1:]
    tree = ROOT
    if len(args) == 3 and args[0] == "--root":
        tree, args = os.path.abspath(args[1]), args[2:]
    if len(args) != 1:
        sys.exit(__doc__)
    dest = args[0]
    rules = load_ignore(os.path.join(ROOT, ".dockerignore"))
    sources = copy_sources(os.path.join(ROOT, "Dockerfile"))
    if not sources:
        sys.exit("FAIL: no COPY from the build context in the Dockerfile")
    wanted, changed = set(), 0
    for src in sources:
        src = os.path.normpath(src)
        full = os.path.join(tree, src)
        files = []
        if os.path.isdir(full):
            for d, _, names in os.walk(full):
                files += [os.path.relpath(os.path.join(d, n), tree) for n in names]
        elif os.path.exists(full):
            files = [src]
        files = [f for f in files if not ignored(f, rules)]
        if not files:
            sys.exit(f"FAIL: COPY {src}: not in the build context (missing, or excluded by .dockerignore)")
        for f in files:
            wanted.add(f)
            target = os.path.join(dest, f)
            if same_bytes(os.path.join(tree, f), target):
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(tree, f), target)  # a new mtime: cargo rebuilds
            changed += 1
    for d, _, names in os.walk(dest, topdown=False):
        for n in names:
            if os.path.relpath(os.path.join(d, n), dest) not in wanted:
                os.remove(os.path.join(d, n))
                changed += 1
        if d != dest and not os.listdir(d):
            os.rmdir(d)
    print(f"docker context: {len(wanted)} files from COPY {' '.join(sources)}, {changed} changed",
          file=sys.stderr)


if __name__ == "__main__":
    main()
