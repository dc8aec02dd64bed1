#!/usr/bin/env python3
"""Summarises loadtest/bench-transports.sh's runs (results.jsonl) as Markdown tables on stdout
(medians with ranges, and the ratios the issue asks for), keeps them as results.json, and draws
the voice load's CPU per packet per leg as bench-transports.svg beside them."""
import json
import os
import statistics
import sys

path, calls, memory_clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [json.loads(line) for line in open(path)]
json.dump(rows, open(path.replace(".jsonl", ".json"), "w"), indent=1)
LEGS = ("udp", "tcp", "tls", "dtls")
# On TLS, hush with its default padding speaks TLS 1.3 only; coturn 4.6.1 has no TLS 1.3.
NAMES = {("hush", "tls"): "hush (TLS 1.3, padding block:128)", ("hush-nopad", "tls"): "hush --padding off (TLS 1.2)",
         ("coturn", "tls"): "coturn (TLS 1.2)", ("ceiling", "tls"): "ceiling (TLS 1.3, padding block:128)",
         ("hush-nopad", "dtls"): "hush --padding off", ("hush", "dtls"): "hush (padding block:128)"}


def vals(part, server, leg, key):
    out = []
    for r in rows:
        if r["part"] == part and r["server"] == server and r["leg"] == leg:
            v = r["result"]
            for k in key.split("."):
                v = v[k]
            out.append(v)
    return out


def med(v):
    return statistics.median(v) if v else None


def cell(v, fmt="{:.1f}"):
    if not v:
        return "-"
    if len(v) == 1:
        return fmt.format(v[0])
    return f"{fmt.format(med(v))} ({fmt.format(min(v))}-{fmt.format(max(v))})"


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


if any(r["part"] == "voice" for r in rows):
    print(f"### CPU per relayed packet, voice load ({calls} clients, 50 packets/s each way, 160 bytes)\n")
    print("| leg | server | us per packet | loss % | p99 round trip (us) | coturn/hush | hush/ceiling |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for leg in LEGS:
        hush = med(vals("voice", "hush", leg, "server_us_per_pkt"))
        for server in ("hush", "hush-nopad", "coturn", "ceiling"):
            us = vals("voice", server, leg, "server_us_per_pkt")
            if not us:
                continue
            name = NAMES.get((server, leg), server)
            c = ratio(med(vals("voice", "coturn", leg, "server_us_per_pkt")), med(us)) if server.startswith("hush") else ""
            h = ratio(med(us), med(vals("voice", "ceiling", leg, "server_us_per_pkt"))) if server.startswith("hush") else ""
            print(f"| {leg} | {name} | {cell(us, '{:.2f}')} | {cell(vals('voice', server, leg, 'loss_pct'), '{:.3f}')} | "
                  f"{cell(vals('voice', server, leg, 'rtt_us.p99'), '{:.0f}')} | {c} | {h} |")
    print()

if any(r["part"] == "memory" for r in rows):
    print(f"### Memory with {memory_clients:,} clients (2 packets/s each way)\n")
    print("| server | RSS, UDP clients (MiB) | RSS, TLS clients (MiB, coturn on TLS 1.2) | TLS beyond UDP, per client (KiB) | ready (UDP / TLS) | loss % (UDP / TLS) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for server in ("hush", "coturn"):
        u, t = vals("memory", server, "udp", "server_rss_kib"), vals("memory", server, "tls", "server_rss_kib")
        if not u or not t:
            continue
        ru, rt = vals("memory", server, "udp", "ready"), vals("memory", server, "tls", "ready")
        per = (t[0] - u[0]) / max(rt[0], 1)
        print(f"| {server} | {u[0] / 1024:.1f} | {t[0] / 1024:.1f} | {per:.1f} | {ru[0]} / {rt[0]} | "
              f"{vals('memory', server, 'udp', 'loss_pct')[0]:.3f} / {vals('memory', server, 'tls', 'loss_pct')[0]:.3f} |")
    print()

if any(r["part"] == "handshakes" for r in rows):
    print("### Full handshakes per second, one server thread (two client threads, no resumption)\n")
    print("| leg | server | handshakes/s | p99 handshake (ms) | hush/coturn |")
    print("| --- | --- | ---: | ---: | ---: |")
    for leg in ("tls", "dtls"):
        c = med(vals("handshakes", "coturn", leg, "storm.per_s"))
        for server in ("hush", "hush-nopad", "coturn"):
            h = vals("handshakes", server, leg, "storm.per_s")
            if not h:
                continue
            print(f"| {leg} | {NAMES.get((server, leg), server)} | {cell(h, '{:.0f}')} | "
                  f"{cell(vals('handshakes', server, leg, 'storm.p99_ms'), '{:.1f}')} | "
                  f"{ratio(med(h), c) if server != 'coturn' else ''} |")
    print()

if any(r["part"].startswith("storm") for r in rows):
    print(f"### Established calls during a handshake storm ({calls} calls, two storming threads)\n")
    print("| leg | server | calls' loss %, quiet / storm | calls' p99 (us), quiet / storm | storm handshakes/s |")
    print("| --- | --- | ---: | ---: | ---: |")
    for leg in ("tls", "dtls"):
        for server in ("hush", "coturn"):
            q, s = vals("storm-0", server, leg, "loss_pct"), vals("storm-2", server, leg, "loss_pct")
            if not q or not s:
                continue
            print(f"| {leg} | {server} | {q[0]:.3f} / {s[0]:.3f} | {vals('storm-0', server, leg, 'rtt_us.p99')[0]:.0f} / "
                  f"{vals('storm-2', server, leg, 'rtt_us.p99')[0]:.0f} | {vals('storm-2', server, leg, 'storm.per_s')[0]:.0f} |")
    print()

if any(r["part"] == "voice" for r in rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    servers = [s for s in ("hush", "hush-nopad", "coturn", "ceiling") if any(r["server"] == s for r in rows)]
    width = 0.8 / len(servers)
    for i, server in enumerate(servers):
        xs, ys, lo, hi = [], [], [], []
        for j, leg in enumerate(LEGS):
            v = vals("voice", server, leg, "server_us_per_pkt")
            if v:
                xs.append(j + (i - (len(servers) - 1) / 2) * width)
                ys.append(med(v))
                lo.append(med(v) - min(v))
                hi.append(max(v) - med(v))
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2,
               label={"hush-nopad": "hush, padding off"}.get(server, server))
    ax.set_xticks(range(len(LEGS)), [leg.upper() for leg in LEGS])
    ax.set_ylabel("server CPU per relayed packet (us)")
    ax.set_title(f"Voice load, {calls} clients, one server thread", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(os.path.dirname(path), "bench-transports.svg"), metadata={"Date": None})
