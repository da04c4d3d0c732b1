#!/usr/bin/env python3
"""micro-mesh benchmark harness (Python 3 stdlib only). Normally run by bench/run.sh.

  bench.py run [--rounds 3] [--duration 10] [--warmup 2] [--peers DIR] [--only IDS] ...
  bench.py report [bench/results/latest.json]      # markdown tables of the medians

`run` measures, on 127.0.0.1 only, in interleaved rounds (A B C ... A B C ...):

* single hop, `wrk -t1 -c1` / `-t2 -c16` / `-t2 -c128`, POST /Example.Call {"name":"Hobo"}:
  the srv example on `--server http` and `--server tiny_http`, the http one also with its
  metrics off and/or its access log on (the cost table), and the peers found in --peers:
  Go net/http, axum, nginx;
* chains at c=16/128, wrk -> api -> srv (POST /example/call): ours (api + srv examples) and
  the seed stand-in (go-micro-like-api -> go-micro-like);
* clients alone: examples/bench_client next to the peer `client-ureq3 ... --timeout 0`
  (1 and 8 threads) against one fixed server (nginx if present, else our srv);
* startup to the first 200 (several starts per round), idle RSS, peak RSS/threads during the
  runs, server CPU us per request, stripped binary sizes.

Everything it starts runs in its own session and is killed (whole group) at the end, on
failure and on SIGINT/SIGTERM. Medians are taken over rounds; wrk and client errors are
recorded per run and summed in the summary, never dropped.

The work is done by the modules of bench/harness/ (see its __init__.py); this file is only the
entry point.
"""

from harness.cli import main

if __name__ == "__main__":
    main(__doc__.split("\n\n")[0])
