#!/usr/bin/env python3
"""Draws loadtest/bench.sh's runs (build/bench-results.jsonl): server CPU per relayed packet and
loss per load, hush, coturn and the ceiling side by side (medians, bars for the range), as an
SVG. Usage: plot_bench.py RESULTS.jsonl OUT.svg [TITLE]"""
import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = [json.loads(line) for line in open(sys.argv[1])]
title = sys.argv[3] if len(sys.argv) > 3 else "loadtest/bench.sh"
loads = list(dict.fromkeys(r["load"] for r in rows))
servers = [s for s in ("hush", "coturn", "ceiling") if any(r["server"] == s for r in rows)]
fig, axes = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
width = 0.8 / len(servers)
for i, server in enumerate(servers):
    for ax, key in zip(axes, ("server_us_per_pkt", "loss_pct")):
        xs, ys, lo, hi = [], [], [], []
        for j, load in enumerate(loads):
            v = [r["result"][key] for r in rows if r["load"] == load and r["server"] == server]
            if not v:
                continue
            m = statistics.median(v)
            xs.append(j + (i - (len(servers) - 1) / 2) * width)
            ys.append(m)
            lo.append(m - min(v))
            hi.append(max(v) - m)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=server if key == "server_us_per_pkt" else None)
axes[0].set_ylabel("server CPU per packet (us)")
axes[1].set_ylabel("loss (%)")
axes[1].set_xticks(range(len(loads)), loads, rotation=20)
axes[0].legend(fontsize=8)
axes[0].set_title(title, fontsize=10)
for ax in axes:
    ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
fig.savefig(sys.argv[2], metadata={"Date": None})
