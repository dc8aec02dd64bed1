#!/usr/bin/env python3
"""Draws loadtest/soak.sh's CSV (SVG) and prints how flat each series stayed after the
warm-up (the first 10% of the run, at least 120 s) until the run's end: its range as a share
of its median."""
import csv
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

path, svg, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
# Samples after the run's end see the generator deleting its allocations: left out.
rows = [r for r in csv.DictReader(open(path)) if float(r["seconds"]) <= duration]
t = [float(r["seconds"]) for r in rows]
warm = max(120.0, 0.1 * duration)
series = [("rss_kib", "RSS (MiB)", 1 / 1024), ("descriptors", "open descriptors", 1),
          ("allocations", "live allocations", 1), ("relayed_addresses", "relayed addresses", 1)]
fig, axes = plt.subplots(len(series), 1, figsize=(8, 8), sharex=True)
for ax, (key, label, scale) in zip(axes, series):
    ys = [float(r[key]) * scale for r in rows]
    ax.plot([x / 60 for x in t], ys, lw=1)
    ax.axvline(warm / 60, color="grey", ls=":", lw=1)
    ax.set_ylabel(label)
    ax.set_ylim(bottom=0)
    after = [y for x, y in zip(t, ys) if x >= warm]
    if after:
        med = statistics.median(after)
        spread = (max(after) - min(after)) / med * 100 if med else 0
        print(f"{label:20s} after {warm:.0f} s: median {med:.1f}, min {min(after):.1f}, max {max(after):.1f}, "
              f"range {spread:.1f}% of the median")
axes[-1].set_xlabel("minutes (dotted: end of the warm-up)")
fig.suptitle("hush soak: resources over time")
fig.tight_layout()
fig.savefig(svg)
print(f"plot: {svg}")
