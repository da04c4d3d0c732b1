#!/bin/bash
# SIGTERM to the srv example (release) in the middle of a 10 s wrk run with 128 connections.
# Usage: sigterm_wrk.sh PORT LOGLEVEL [SERVER] ; prints wrk's summary, the server's access-log
# count, and the time from SIGTERM to exit.
P=$1; LEVEL=${2:-info}; SERVER=${3:-http}
BIN=${BIN:-target/release/examples/srv}
OUT=${TMPDIR:-/tmp}/sigterm-$P
$BIN --server_address 127.0.0.1:$P --log_level "$LEVEL" --server $SERVER 2> $OUT.stderr &
pid=$!
for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.05; done
wrk -t2 -c128 -d10s --latency -s bench/post.lua http://127.0.0.1:$P/Example.Call > $OUT.wrk 2>&1 &
wrkpid=$!
sleep 4
t0=$(date +%s.%N)
kill -TERM $pid
wait $pid; rc=$?
t1=$(date +%s.%N)
wait $wrkpid
grep -E "requests in|Socket errors|Non-2xx|Latency|Requests/sec" $OUT.wrk
grep BENCH $OUT.wrk
echo "exit code: $rc; SIGTERM to exit: $(echo "$t1 - $t0" | bc) s"
echo "server access lines 200: $(grep -c '"status":200' $OUT.stderr), non-200: $(grep '"log":"access"' $OUT.stderr | grep -vc '"status":200')"
grep -v '"log":"access"' $OUT.stderr | head -5
