-- wrk script for the micro-mesh benchmark (bench/bench.py):
-- POST {"name":"Hobo"} as application/json to the URL given to wrk, and at the
-- end print one line "BENCH {json}" with the counts, errors and latency
-- percentiles (microseconds) that bench.py parses.
wrk.method = "POST"
wrk.body = '{"name":"Hobo"}'
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  local fields = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"err_connect":%d', e.connect),
    string.format('"err_read":%d', e.read),
    string.format('"err_write":%d', e.write),
    string.format('"err_timeout":%d', e.timeout),
    string.format('"err_status":%d', e.status),
    string.format('"lat_mean_us":%.1f', latency.mean),
    string.format('"lat_max_us":%d', latency.max),
  }
  for _, p in ipairs({50, 90, 99, 99.9}) do
    fields[#fields + 1] = string.format('"lat_p%s_us":%d',
      (tostring(p):gsub("%.", "_")), latency:percentile(p))
  end
  io.write("BENCH {" .. table.concat(fields, ",") .. "}\n")
end
