"""Reporting: the markdown tables of a run's medians (what README's Performance section shows)."""

from .plan import COST_BASE


def load_range(data):
    """Lowest and highest 1-minute load average seen at start, end and around every server."""
    xs = [data["load"]["start"][0], data["load"].get("end", data["load"]["start"])[0]]
    for r in data["rounds"]:
        xs += [r["loadavg_before"][0], r.get("loadavg_after", r["loadavg_before"])[0]]
    return min(xs), max(xs)


def others_text(data):
    """What else ran on the machine during the measured runs."""
    lo, hi = load_range(data)
    oc = data["summary"].get("other_cores") or {}
    text = ""
    if oc.get("median") is not None:
        text = (f"Other processes used a median {oc['median']:.2f} (max {oc['max']:.2f}) of the "
                f"{data['machine']['nproc']} cores during the measured runs; ")
    return text + (f"1-minute load average {lo:.1f} to {hi:.1f} (it counts the benchmark's own "
                   f"runnable threads too: hundreds at 128 connections for thread-per-connection "
                   f"servers).")


def fmt(x, spec="{:.0f}"):
    return "-" if x is None else spec.format(x)


def level(levels, c, key, spec="{:.0f}"):
    """One median of one level (`c` connections) of a server's summary, formatted."""
    return fmt(levels.get(c, {}).get(key), spec)


def errors(levels):
    return sum(lv["errors"] for lv in levels.values())


def report(data):
    """Markdown tables of the medians (what README's Performance section shows)."""
    s, m, cfg = data["summary"], data["machine"], data["config"]
    sv = s["servers"]
    lo, hi = load_range(data)
    lines = [f"{m['date']}, {m['cpu_model']}, {m['nproc']} cores, kernel {m['kernel']}; "
             f"{cfg['rounds']} interleaved rounds x {cfg['duration_s']} s per level "
             f"({data.get('elapsed_s', 0) / 60:.0f} min), {cfg.get('sessions', 'a session per process')}. "
             f"{others_text(data)}", ""]
    lines += ["| server | rps c=1 | rps c=16 | rps c=128 | p99 ms c=1 / 16 / 128 | "
              "CPU µs/req c=16 / 128 | idle RSS MiB | RSS MiB / threads c=128 | startup ms | "
              "stripped MiB | errors |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in sv.values():
        if v["kind"] != "single":
            continue
        L = v["levels"]
        lines.append(
            f"| {v['label']} | {level(L, '1', 'rps')} | {level(L, '16', 'rps')} | {level(L, '128', 'rps')} | "
            f"{level(L, '1', 'p99_ms', '{:.2f}')} / {level(L, '16', 'p99_ms', '{:.2f}')} / "
            f"{level(L, '128', 'p99_ms', '{:.2f}')} | "
            f"{level(L, '16', 'cpu_us_per_req', '{:.1f}')} / {level(L, '128', 'cpu_us_per_req', '{:.1f}')} | "
            f"{fmt(v['idle_rss_mib'], '{:.1f}')} | {level(L, '128', 'peak_rss_mib', '{:.1f}')} / "
            f"{level(L, '128', 'peak_threads')} | {fmt(v['startup_ms'], '{:.1f}')} | "
            f"{fmt(v['stripped_mib'], '{:.2f}')} | {errors(L)} |")
    lines += ["", "| ratio of rps medians | c=1 | c=16 | c=128 |", "|---|---|---|---|"]
    for ref in ("go", "axum"):
        for sid in ("mm-http", "mm-tiny", "mm-http-log"):
            r = s["ratios"].get("vs_" + ref, {}).get(sid, {}).get("of_medians")
            if r:
                lines.append(f"| {sv[sid]['label']} / {sv[ref]['label']} | "
                             + " | ".join(fmt(r.get(c), "{:.2f}") for c in ("1", "16", "128")) + " |")
    if s.get("cost"):
        lines += ["", f"| cost: srv variant / {sv[COST_BASE]['label']} | metrics | access log | "
                  "rps c=16 | rps c=128 | extra CPU µs/req c=16 / 128 |", "|---|---|---|---|---|---|"]
        for v in s["cost"].values():
            L, on = v["levels"], {True: "on", False: "off"}
            lines.append(
                f"| {v['label']} | {on[v['metrics']]} | {on[v['access_log']]} | "
                f"{level(L, '16', 'rps_ratio', '{:.3f}')} | {level(L, '128', 'rps_ratio', '{:.3f}')} | "
                f"{level(L, '16', 'extra_cpu_us_per_req', '{:+.2f}')} / "
                f"{level(L, '128', 'extra_cpu_us_per_req', '{:+.2f}')} |")
    lines += ["", "| chain (wrk -> api -> srv) | rps c=16 | rps c=128 | p99 ms c=16 / 128 | "
              "CPU µs/req c=16 / 128 (both processes) | RSS MiB c=128 | errors |",
              "|---|---|---|---|---|---|---|"]
    for v in sv.values():
        if v["kind"] != "chain":
            continue
        L = v["levels"]
        lines.append(
            f"| {v['label']} | {level(L, '16', 'rps')} | {level(L, '128', 'rps')} | "
            f"{level(L, '16', 'p99_ms', '{:.2f}')} / {level(L, '128', 'p99_ms', '{:.2f}')} | "
            f"{level(L, '16', 'cpu_us_per_req', '{:.1f}')} / {level(L, '128', 'cpu_us_per_req', '{:.1f}')} | "
            f"{level(L, '128', 'peak_rss_mib', '{:.1f}')} | {errors(L)} |")
    if s["clients"]:
        srv_label = sv.get(cfg["client_server"], {}).get("label", cfg["client_server"])
        lines += ["", f"| client -> {srv_label} | threads | calls/s | p50 µs | p99 µs | "
                  "client CPU µs/call | errors |", "|---|---|---|---|---|---|---|"]
        labels = {c["id"]: c["label"] for c in data["clients_measured"]}
        for th in sorted(s["clients"], key=int):
            for cid, v in s["clients"][th].items():
                lines.append(f"| {labels.get(cid, cid)} | {th} | {fmt(v['calls_per_s'])} | "
                             f"{fmt(v['p50_us'])} | {fmt(v['p99_us'])} | "
                             f"{fmt(v['cpu_us_per_call'], '{:.1f}')} | {v['errors']} |")
    lines += ["", "| ISSUE 7 / 13 target | measured | goal | met |", "|---|---|---|---|"]
    for t in s["targets"]:
        met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
        lines.append(f"| {t['target']} | {fmt(t['value'], '{:.2f}')} | {t['goal']} | {met} |")
    if data["skipped"]:
        lines += ["", "Skipped: " + "; ".join(data["skipped"]) + "."]
    return "\n".join(lines)
