#!/bin/bash
# A well-behaved client's latency (wrk, 1 connection, 10 s) with and without 500 slowloris
# connections. Usage: slowloris_p99.sh PORT [srv flags...]
P=$1; shift
BIN=${BIN:-target/release/examples/srv}
$BIN --server_address 127.0.0.1:$P --log_level off "$@" &
pid=$!
for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.05; done
run() { wrk -t1 -c1 -d10s --latency -s $1 http://127.0.0.1:$P/Example.Call | grep -E "99%|Requests/sec|Non-2xx|Socket" | tr -s ' ' | tr '\n' ' '; echo; }
echo "unloaded keep-alive:   $(run bench/post.lua)"
echo "unloaded new conn:     $(run tests/probes/close.lua)"
python3 tests/probes/slowloris.py $P 500 24 &
sl=$!
sleep 2
echo "threads with slowloris: $(grep Threads /proc/$pid/status)"
echo "slowloris keep-alive:  $(run bench/post.lua)"
echo "slowloris new conn:    $(run tests/probes/close.lua)"
wait $sl
kill -TERM $pid; wait $pid
