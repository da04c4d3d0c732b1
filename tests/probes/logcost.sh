#!/bin/bash
# Throughput and server CPU per request, access log on (info, stderr to a file) vs off.
BIN=${BIN:-target/release/examples/srv}
for round in 1 2; do for level in off info; do
  P=$((19800 + round * 10 + ${#level}))
  $BIN --server_address 127.0.0.1:$P --log_level $level 2> ${TMPDIR:-/tmp}/logcost.stderr &
  pid=$!
  for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.05; done
  wrk -t2 -c16 -d2s -s bench/post.lua http://127.0.0.1:$P/Example.Call > /dev/null
  c0=$(awk '{print $14+$15}' /proc/$pid/stat)
  out=$(wrk -t2 -c16 -d8s -s bench/post.lua http://127.0.0.1:$P/Example.Call | grep BENCH)
  c1=$(awk '{print $14+$15}' /proc/$pid/stat)
  req=$(echo "$out" | sed 's/.*"requests":\([0-9]*\).*/\1/')
  p99=$(echo "$out" | sed 's/.*"lat_p99_us":\([0-9]*\).*/\1/')
  echo "round $round log=$level: $req requests in 8 s ($((req/8)) rps), server CPU $(echo "scale=1; ($c1-$c0)*10000/$req" | bc) us/request, p99 ${p99} us"
  kill -TERM $pid; wait $pid
done; done
