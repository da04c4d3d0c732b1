"""The summary of a run: medians over rounds per server, level and client, ratios to Go and axum,
the cost of metrics and of the access log, errors, other load, and ISSUE 7's targets.
"""

import statistics

from .common import MiB
from .plan import COST_BASE, COST_VARIANTS


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b else None


def per_round(data, sid, ref, c, f):
    """f(level of sid, level of ref) for every round in which both measured `c` connections."""
    xs = []
    for rnd in range(1, data["config"]["rounds"] + 1):
        a = [r for r in data["rounds"] if r["id"] == sid and r["round"] == rnd and r.get("ok")]
        z = [r for r in data["rounds"] if r["id"] == ref and r["round"] == rnd and r.get("ok")]
        if a and z and c in a[0]["levels"] and c in z[0]["levels"]:
            xs.append(f(a[0]["levels"][c], z[0]["levels"][c]))
    return xs


def cost(data, servers):
    """What metrics and the access log cost: each srv variant against COST_BASE (both off), per
    level, as the median over rounds of its rps ratio and of its extra server CPU per request
    (the same round = the same machine state), and as the ratio of the rps medians."""
    base = servers.get(COST_BASE)
    if not base:
        return {}
    out = {}
    for sid, metrics, log in COST_VARIANTS:
        v = servers.get(sid)
        if not v:
            continue
        levels = {}
        for c, lv in v["levels"].items():
            if c not in base["levels"]:
                continue
            cpu = per_round(data, sid, COST_BASE, c, lambda a, z: None
                            if a["server_cpu_us_per_req"] is None or z["server_cpu_us_per_req"] is None
                            else a["server_cpu_us_per_req"] - z["server_cpu_us_per_req"])
            levels[c] = {
                "rps_ratio": med(per_round(data, sid, COST_BASE, c, lambda a, z: ratio(a["rps"], z["rps"]))),
                "rps_ratio_of_medians": ratio(lv["rps"], base["levels"][c]["rps"]),
                "extra_cpu_us_per_req": med(cpu),
            }
        out[sid] = {"label": v["label"], "metrics": metrics, "access_log": log, "levels": levels}
    return out


def summarize(data):
    s = {"servers": {}, "clients": {}, "ratios": {}, "errors_total": 0}
    for t in data["targets"]:
        recs = [r for r in data["rounds"] if r["id"] == t["id"] and r.get("ok")]
        levels = {}
        for c in data["config"]["conns"] if t["kind"] == "single" else data["config"]["chain_conns"]:
            rs = [r["levels"][str(c)] for r in recs if str(c) in r["levels"]]
            if not rs:
                continue
            errors = sum(x["errors"] for x in rs)
            s["errors_total"] += errors
            levels[str(c)] = {
                "rps": med(x["rps"] for x in rs),
                "rps_min": min(x["rps"] for x in rs), "rps_max": max(x["rps"] for x in rs),
                "p50_ms": med(x["lat_p50_us"] / 1000 for x in rs),
                "p99_ms": med(x["lat_p99_us"] / 1000 for x in rs),
                "cpu_us_per_req": med(x["server_cpu_us_per_req"] for x in rs),
                "peak_rss_mib": med(x["peak_rss_kib"] / 1024 for x in rs),
                "peak_threads": med(x["peak_threads"] for x in rs),
                "new_conns": med(x["new_conns"] for x in rs),
                "other_cores": med(x.get("other_cores") for x in rs),
                "errors": errors, "rounds": len(rs),
            }
        starts = data["startups"].get(t["id"], [])
        b = data["binaries"].get(t["id"]) or {}
        s["servers"][t["id"]] = {
            "label": t["label"], "kind": t["kind"], "levels": levels,
            "rounds_ok": len(recs),
            "rounds_failed": len([r for r in data["rounds"] if r["id"] == t["id"] and not r.get("ok")]),
            "idle_rss_mib": med(r["idle_rss_kib"] / 1024 for r in recs),
            "idle_threads": med(r["idle_threads"] for r in recs),
            "startup_ms": med(starts) if starts else med(r.get("startup_ms") for r in recs),
            "startup_samples": len(starts),
            "stripped_mib": b["stripped_bytes"] / MiB if b.get("stripped_bytes") else None,
        }
    for ref in ("go", "axum"):
        rr = s["servers"].get(ref)
        if not rr:
            continue
        out = {}
        for sid, sv in s["servers"].items():
            if sv["kind"] != "single":
                continue
            of_medians = {c: ratio(lv["rps"], rr["levels"].get(c, {}).get("rps"))
                          for c, lv in sv["levels"].items()}
            # also the median of the per-round ratios (same round = same machine state)
            of_rounds = {c: med(per_round(data, sid, ref, c, lambda a, z: ratio(a["rps"], z["rps"])))
                         for c in sv["levels"]}
            out[sid] = {"of_medians": of_medians, "median_of_rounds": of_rounds}
        s["ratios"]["vs_" + ref] = out
    for r in data["clients"]:
        if "id" not in r:
            continue
        s["clients"].setdefault(str(r["threads"]), {}).setdefault(r["id"], []).append(r)
    for by in s["clients"].values():
        for cid, rs in list(by.items()):
            errors = sum((x.get("errors") or 0) + (1 if x["rc"] != 0 else 0) for x in rs)
            s["errors_total"] += errors
            by[cid] = {
                "calls_per_s": med(x.get("calls_per_s") for x in rs),
                "min": min((x.get("calls_per_s") or 0) for x in rs),
                "max": max((x.get("calls_per_s") or 0) for x in rs),
                "p50_us": med(x.get("p50_us") for x in rs),
                "p99_us": med(x.get("p99_us") for x in rs),
                "cpu_us_per_call": med(x.get("client_cpu_us_per_call") for x in rs),
                "errors": errors, "rounds": len(rs), "server": rs[0]["server"],
            }
    others = [lv["other_cores"] for r in data["rounds"] for lv in r["levels"].values()
              if "other_cores" in lv]
    steal = [lv["steal_cores"] for r in data["rounds"] for lv in r["levels"].values()
             if "steal_cores" in lv]
    s["other_cores"] = {"median": med(others), "max": max(others) if others else None,
                        "steal_median": med(steal)}
    s["cost"] = cost(data, s["servers"])
    s["targets"] = targets_check(s)
    return s


def targets_check(s):
    """ISSUE 7's targets, as measured in this run (None = not measured)."""
    sv, out = s["servers"], []

    def lv(sid, c, key):
        return sv.get(sid, {}).get("levels", {}).get(c, {}).get(key)

    def add(name, value, goal, ok):
        out.append({"target": name, "value": value, "goal": goal,
                    "met": None if value is None else ok(value)})

    for c in ("16", "128"):
        for ref, goal in (("go", 1.5), ("axum", 0.9)):
            add(f"http rps vs {ref} c={c}", ratio(lv("mm-http", c, "rps"), lv(ref, c, "rps")),
                f">= {goal}x", lambda v, g=goal: v >= g)
            mine, theirs = lv("mm-http", c, "p99_ms"), lv(ref, c, "p99_ms")
            add(f"http p99 vs {ref} c={c} (ms)", mine if theirs is not None else None,
                f"<= {theirs:.2f}" if theirs is not None else "-", lambda v, t=theirs: v <= t)
        add(f"chain / single hop c={c}", ratio(lv("mm-chain", c, "rps"), lv("mm-http", c, "rps")),
            ">= 0.45x", lambda v: v >= 0.45)
        # issue 13: the chain over gRPC (api --client grpc) vs a grpc-go chain, and vs over HTTP
        add(f"grpc chain vs grpc-go chain c={c}",
            ratio(lv("mm-chain-grpc", c, "rps"), lv("grpcgo-chain", c, "rps")),
            ">= 1.5x", lambda v: v >= 1.5)
        add(f"grpc chain / http chain c={c}",
            ratio(lv("mm-chain-grpc", c, "rps"), lv("mm-chain", c, "rps")), "(reported)", lambda v: None)
    for th in ("1", "8"):
        by = s["clients"].get(th, {})
        add(f"client vs ureq {th} thr",
            ratio(by.get("mm-client", {}).get("calls_per_s"), by.get("ureq3", {}).get("calls_per_s")),
            ">= 0.95x", lambda v: v >= 0.95)
        add(f"grpc client vs grpc-go client {th} thr",
            ratio(by.get("mm-client-grpc", {}).get("calls_per_s"),
                  by.get("grpc-go-client", {}).get("calls_per_s")),
            ">= 1.0x", lambda v: v >= 1.0)
    http = sv.get("mm-http", {})
    add("idle RSS (MiB)", http.get("idle_rss_mib"), "< 3", lambda v: v < 3)
    add("stripped srv (MiB)", http.get("stripped_mib"), "< 1.5", lambda v: v < 1.5)
    add("startup (ms)", http.get("startup_ms"), "< 5", lambda v: v < 5)
    return out
