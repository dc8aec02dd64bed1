#!/usr/bin/env python3
"""Summarises loadtest/auth-flood.sh's runs (results.jsonl): a table of medians and ranges per
server and flood on stdout, the runs as results.json, and the calls' loss and round trip
against the flood's rate drawn as an SVG."""
import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

path, svg, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = [json.loads(line) for line in open(path)]
json.dump(rows, open(path.replace(".jsonl", ".json"), "w"), indent=1)
servers = ("hush", "coturn")


def select(server, rate, kind):
    return [r for r in rows if r["server"] == server and r["flood_rate"] == rate and r["kind"] == kind]


def cell(vals, fmt):
    if not vals:
        return "-"
    return f"{fmt.format(statistics.median(vals))} ({fmt.format(min(vals))}-{fmt.format(max(vals))})"


keys = []
for r in rows:
    if (r["flood_rate"], r["kind"]) not in keys:
        keys.append((r["flood_rate"], r["kind"]))
print("| flood (requests/s) | server | calls' loss % | calls' p99 round trip (ms) | server CPU % | "
      "flood requests answered % | answers to one source, most |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
for rate, kind in keys:
    for server in servers:
        sel = select(server, rate, kind)
        if not sel:
            continue
        floods = [r["flood"] for r in sel if r["flood"]]
        name = ("none" if rate == 0 else f"{rate:,}") + (", junk nonce" if kind == "junk" else "")
        print(f"| {name} | {server} | {cell([r['calls']['loss_pct'] for r in sel], '{:.3f}')} | "
              f"{cell([r['calls']['rtt_us']['p99'] / 1000 for r in sel], '{:.1f}')} | "
              f"{cell([100 * r['calls']['server_cpu_s'] / duration for r in sel], '{:.0f}')} | "
              f"{cell([100 * f['answers'] / max(f['sent'], 1) for f in floods], '{:.1f}')} | "
              f"{cell([f['answers_per_source_max'] for f in floods], '{:.0f}')} |")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
rates = sorted({r for r, k in keys if k == "integrity"})
for server, colour in zip(servers, ("tab:blue", "tab:orange")):
    for ax, metric in zip(axes, ("loss", "p99")):
        med, lo, hi = [], [], []
        for rate in rates:
            sel = select(server, rate, "integrity")
            vals = [r["calls"]["loss_pct"] if metric == "loss" else r["calls"]["rtt_us"]["p99"] / 1000 for r in sel]
            med.append(statistics.median(vals))
            lo.append(min(vals))
            hi.append(max(vals))
        x = [r / 1000 for r in rates]
        ax.plot(x, med, marker="o", color=colour, label=server)
        ax.fill_between(x, lo, hi, color=colour, alpha=0.2)
axes[0].set_ylabel("calls' packets lost (%)")
axes[1].set_ylabel("calls' p99 round trip (ms)")
axes[1].set_yscale("log")
for ax in axes:
    ax.set_xlabel("flood (thousand requests/s, wrong MESSAGE-INTEGRITY)")
    ax.grid(alpha=0.3)
    ax.legend()
fig.suptitle("Calls in progress during an authentication flood (one relay thread)", fontsize=10)
fig.tight_layout()
fig.savefig(svg, metadata={"Date": None})
