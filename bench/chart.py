#!/usr/bin/env python3
"""Render bench/results/latest.json as an SVG chart (stdlib only, our own small code).

  chart.py [RESULTS.json] [OUT.svg]     (defaults: bench/results/latest.json, bench/results/chart.svg)

Top: grouped bars of requests/s per server at c=1/16/128. Bottom left: the api -> srv chains
at c=16/128; bottom right: the clients alone at 1 and 8 threads. Bars are medians of the
rounds, whiskers the min-max of the rounds. A footer line carries srv's footprint figures.
"""

import html
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COLORS = {"mm-http": "#d9480f", "mm-tiny": "#f59f00", "go": "#1c7ed6", "axum": "#7048e8",
          "nginx": "#2f9e44", "mm-chain": "#d9480f", "gomicro-chain": "#1c7ed6",
          "mm-client": "#d9480f", "ureq3": "#868e96"}
FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'


def esc(s):
    return html.escape(str(s).replace("->", "\u2192"), quote=True)


def text(x, y, s, size=12, anchor="start", weight="normal", fill="#212529", extra=""):
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}" {extra}>{esc(s)}</text>')


def short(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{v / 1e3:.0f}k"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def nice_max(v):
    """An axis top >= v and a tick step, both round numbers."""
    if not v or v <= 0:
        return 1.0, 0.2
    raw = v / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return step * math.ceil(v / step), step


def panel(x0, y0, w, h, title, groups, series, ylabel):
    """groups: [(group label, {series id: (median, min, max)})]; series: [(id, label)]."""
    out = ['<g class="panel">', text(x0, y0 - 10, title, 14, weight="bold")]
    # an empty panel (e.g. `bench.py run --only mm-http` measures no chain) gets an empty axis
    top = max(((mx or med or 0) for _, vals in groups for (med, _mn, mx) in vals.values()), default=0)
    ymax, step = nice_max(top * 1.08)

    def y(v):
        return y0 + h - (v / ymax) * h

    t = 0.0
    while t <= ymax + 1e-9:
        yy = y(t)
        out.append(f'<line x1="{x0}" y1="{yy:.1f}" x2="{x0 + w}" y2="{yy:.1f}" stroke="#e9ecef"/>')
        out.append(text(x0 - 6, yy + 4, short(t), 11, "end", fill="#495057"))
        t += step
    out.append(text(x0 - 44, y0 + h / 2, ylabel, 11, "middle", fill="#495057",
                    extra=f'transform="rotate(-90 {x0 - 44} {y0 + h / 2})"'))
    out.append(f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#868e96"/>')
    gw = w / max(1, len(groups))
    present = [sid for sid, _ in series if any(sid in vals for _, vals in groups)]
    bw = min(48.0, gw * 0.8 / max(1, len(present)))
    for gi, (glabel, vals) in enumerate(groups):
        ids = [sid for sid in present if sid in vals]
        gx = x0 + gi * gw + (gw - bw * len(ids)) / 2
        for bi, sid in enumerate(ids):
            med, mn, mx = vals[sid]
            bx = gx + bi * bw
            if med is None:
                out.append(text(bx + bw / 2, y0 + h - 4, "n/a", 10, "middle", fill="#868e96"))
                continue
            by = y(med)
            out.append(f'<rect x="{bx + 1:.1f}" y="{by:.1f}" width="{bw - 2:.1f}" '
                       f'height="{y0 + h - by:.1f}" fill="{COLORS.get(sid, "#adb5bd")}"/>')
            if mn is not None and mx is not None and mx > mn:
                cx = bx + bw / 2
                out.append(f'<path d="M{cx:.1f} {y(mn):.1f}V{y(mx):.1f}M{cx - 4:.1f} {y(mn):.1f}'
                           f'h8M{cx - 4:.1f} {y(mx):.1f}h8" stroke="#212529" stroke-width="1"/>')
            # just above the bar; a white halo keeps it readable across the whisker
            out.append(text(bx + bw / 2, by - 4, short(med), 10, "middle",
                            extra='paint-order="stroke" stroke="#ffffff" stroke-width="3"'))
        out.append(text(x0 + gi * gw + gw / 2, y0 + h + 18, glabel, 12, "middle"))
    out.append("</g>")
    return out


def legend(x, y, items):
    out = []
    for sid, label in items:
        out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{COLORS.get(sid, "#adb5bd")}"/>')
        out.append(text(x + 17, y, label, 12))
        x += 34 + 7.4 * len(label)
    return out


def render(data):
    s, m, cfg = data["summary"], data["machine"], data["config"]
    sv = s["servers"]
    W, H = 960, 720
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" {FONT}>',
           f'<rect width="{W}" height="{H}" fill="#ffffff"/>']
    out.append(text(W / 2, 28, "micro-mesh benchmark: requests per second on loopback "
                    "(wrk, POST /Example.Call)", 17, "middle", "bold"))
    oc = s.get("other_cores") or {}
    la = (f"other processes: median {oc['median']:.2f} cores" if oc.get("median") is not None
          else "")
    out.append(text(W / 2, 48, f"{m['cpu_model']}, {m['nproc']} cores, Linux {m['kernel']}, "
                    f"{m['date']}", 12, "middle", fill="#495057"))
    out.append(text(W / 2, 64, f"medians of {cfg['rounds']} interleaved rounds x {cfg['duration_s']} s "
                    f"per level; whiskers = min-max of rounds; wrk shares the cores; "
                    f"{la}", 11, "middle", fill="#868e96"))

    hidden = {t["id"] for t in data["targets"] if not t.get("chart", True)}
    singles = [(sid, v["label"]) for sid, v in sv.items() if v["kind"] == "single" and sid not in hidden]
    out += legend(70, 92, singles)
    groups = []
    for c in cfg["conns"]:
        vals = {}
        for sid, _ in singles:
            lv = sv[sid]["levels"].get(str(c))
            if lv:
                vals[sid] = (lv["rps"], lv["rps_min"], lv["rps_max"])
        groups.append((f"{c} connection{'s' if c != 1 else ''}", vals))
    out += panel(70, 130, 870, 270, "single hop: server answers the RPC itself", groups, singles,
                 "requests/s")

    chains = [(sid, v["label"]) for sid, v in sv.items() if v["kind"] == "chain"]
    cgroups = []
    for c in cfg["chain_conns"]:
        vals = {}
        for sid, _ in chains:
            lv = sv[sid]["levels"].get(str(c))
            if lv:
                vals[sid] = (lv["rps"], lv["rps_min"], lv["rps_max"])
        cgroups.append((f"{c} connections", vals))
    out += panel(70, 490, 370, 160, "chain: wrk -> api -> srv", cgroups, chains, "requests/s")
    out += legend(70, 700, [(sid, label) for sid, label in chains])

    labels = {c["id"]: c["label"] for c in data.get("clients_measured", [])}
    clients = [(cid, labels.get(cid, cid)) for cid in labels]
    kgroups = []
    for th in sorted(s["clients"], key=int):
        vals = {cid: (v["calls_per_s"], v["min"], v["max"]) for cid, v in s["clients"][th].items()}
        kgroups.append((f"{th} thread{'s' if th != '1' else ''}", vals))
    srv_label = sv.get(cfg["client_server"], {}).get("label", cfg["client_server"])
    if kgroups:
        out += panel(570, 490, 370, 160, f"client alone -> {srv_label}", kgroups, clients, "calls/s")
        out += legend(570, 700, clients)

    http = sv.get("mm-http", {})
    h128 = http.get("levels", {}).get("128", {})
    bins = data.get("binaries", {}).get("srv") or {}

    def f(v, spec):
        return "-" if v is None else spec.format(v)
    foot = (f"micro-mesh srv (http): idle RSS {f(http.get('idle_rss_mib'), '{:.1f}')} MiB, "
            f"{f(h128.get('peak_rss_mib'), '{:.1f}')} MiB / {f(h128.get('peak_threads'), '{:.0f}')} threads "
            f"at 128 conns, startup {f(http.get('startup_ms'), '{:.1f}')} ms, stripped "
            f"{f(http.get('stripped_mib'), '{:.2f}')} MiB ({bins.get('linking', '?').split(',')[0]}); "
            f"request errors in this run: {s['errors_total']}")
    out.append(text(W / 2, 446, foot, 11, "middle", fill="#495057"))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "results", "latest.json")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "results", "chart.svg")
    with open(src) as fh:
        data = json.load(fh)
    with open(dst, "w") as fh:
        fh.write(render(data))
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
