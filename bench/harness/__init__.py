"""The micro-mesh benchmark harness behind bench/bench.py (its entry point), one module per job.

  common     paths, the request body, units, small helpers shared by all
  procs      starting and stopping processes (each in its own group), the servers' log files
  sysstat    /proc readings: CPU, RSS, threads, load, TCP opens; the peak sampler
  net        free loopback ports, one POST, starting a server until its first 200
  loadgen    wrk and the client benchmarks, run and parsed
  footprint  binary sizes and linking, startup-to-first-200 probes
  plan       what is measured: the servers, variants and chains, by id
  measure    one round of one server or chain, one round of the clients
  summary    medians, ratios, ISSUE 7's targets
  machine    the machine and its tools, waiting for a quiet machine
  report     the markdown tables
  cli        the command line: `run` and `report`

Python 3 stdlib only.
"""
